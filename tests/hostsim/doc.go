// Package hostsim is a simulator of the Azure Functions host as it drives a
// custom handler, written from the host's source so that the handler can be
// tested the way a deployment runs it (the host itself cannot run here).
//
// What it reproduces, and where the behaviour comes from:
//
//   - Indexing (azure-functions-host, azure-webjobs-sdk
//     NameResolverExtensions.ResolveWholeString): every <Name>/function.json
//     is read; each %SETTING% in queueName and schedule is resolved from the
//     app settings (the given settings, then local.settings.json Values, as
//     `func start` does). A setting that does not resolve leaves the function
//     unindexed with "'%NAME%' does not resolve to a value."; the others run.
//   - The worker process (Workers/Http/HttpWorkerProcess, WorkerProcess.cs):
//     host.json's customHandler.description (defaultExecutablePath,
//     arguments, workingDirectory) started with the app settings, the host's
//     own variables and FUNCTIONS_CUSTOMHANDLER_PORT. An exit with code 0 is
//     not restarted (SuccessExitCode); 200 is restarted as intended
//     (IntentionalRestartExitCode); any other exit is a worker error.
//   - Readiness (DefaultHttpWorkerService.IsWorkerReady, WorkerConstants):
//     GET / every 25 ms for 30 s until any HTTP answer. Without one, or on a
//     worker error, the worker is killed and restarted; after 3 errors within
//     30 minutes the app stops (HttpFunctionInvocationDispatcher).
//   - functionTimeout (WebScriptHostExceptionHandler.OnTimeoutExceptionAsync):
//     an invocation past host.json's functionTimeout fails; if the handler
//     has not answered within a grace period the worker is killed (SIGKILL,
//     never SIGTERM) and restarted, ending every invocation in flight.
//   - Queue trigger (azure-sdk-for-net Storage.Queues extension: QueueListener,
//     QueueProcessor, QueueTriggerBinding; QueuesOptions from host.json):
//     batchSize messages per dequeue, a new batch when the invocations in
//     flight drop to newBatchThreshold, polling backed off up to
//     maxPollingInterval, messages kept invisible while they run; a success
//     deletes the message, a failure makes it visible again after
//     visibilityTimeout, and after maxDequeueCount deliveries it moves to
//     <queue>-poison. Queue names are lower-cased. messageEncoding base64 is
//     decoded (a message that is not base64 is moved to the poison queue).
//   - The invocation envelope (ScriptInvocationContextExtensions
//     .ToHttpScriptInvocationContext / GetHttpScriptInvocationContextValue):
//     POST /<Function> with X-Azure-Functions-InvocationId; a string value is
//     JSON-encoded a second time, a number too (as text), a date is an ISO
//     string, an object stays an object, a byte[] of a "binary" binding is
//     base64. Metadata is the trigger's binding data (keys ending in
//     "trigger" left out) with the message's own top-level JSON properties
//     merged over it, case-insensitively, plus "sys".
//   - Timer trigger (azure-webjobs-sdk-extensions TimerSchedule, CronSchedule):
//     6- and 5-field NCRONTAB and TimeSpan schedules, fired on schedule (when
//     Config.RunTimers) or on demand (FireTimer, with IsPastDue), one at a
//     time per function; runOnStartup.
//   - HTTP triggers (DefaultHttpWorkerService.ProcessHttpInAndOutInvocationRequest
//     with enableForwardingHttpRequest; WebJobsRouteBuilder's ASP.NET routes):
//     requests under /<routePrefix>/ matched by each function's route
//     template (literals in any case, {param}, a trailing slash) and methods
//     (404 otherwise), forwarded at their original path with their headers;
//     the body only when Content-Length > 0, read whole first (over 100 MiB,
//     or the app setting FUNCTIONS_REQUEST_BODY_SIZE_LIMIT: 413 from the
//     host).
//   - Function keys (Config.Keys; FunctionAuthorizationHandler): the key in
//     the x-functions-key header or the code query parameter; authLevel
//     anonymous needs none, function takes the master key, a host key or
//     the function's own, admin the master key only; otherwise 401 with no
//     body, and the worker is not invoked. Without Keys nothing is
//     checked, as under `func start`.
//   - HTTPS (Config.TLS): the endpoint served over TLS with the given
//     certificate, as Azure serves an app; what T-SQL's
//     sp_invoke_external_rest_endpoint requires.
//
// What it does not reproduce: the keys' storage and admin API, scale-out and several instances, dynamic concurrency,
// the schedule monitor's storage (ScheduleStatus is kept in memory), the
// host's own health monitor and its restarts, Application Insights, and
// invocations arriving while the worker restarts (they wait for it here;
// the real host may fail them at once).
package hostsim
