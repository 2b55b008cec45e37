package server

import "net/http"

// RoutePrefix is host.json's extensions.http.routePrefix: the host forwards
// an HTTP function's request at /<RoutePrefix>/<route>.
const RoutePrefix = "api"

// Trigger types, as function.json spells them.
const (
	TriggerQueue = "queueTrigger"
	TriggerTimer = "timerTrigger"
	TriggerHTTP  = "httpTrigger"
)

// Body limits of the HTTP functions. Files takes what
// sp_invoke_external_rest_endpoint can send (100 MB); the others take small
// JSON bodies (a storage queue message is at most 64 KiB).
const (
	FilesBodyLimit int64 = 100 << 20
	SmallBodyLimit int64 = 64 << 10
)

// Route is one function as the host reaches it. It is the single source of
// truth for the server's routes and for functions/<Function>/function.json
// (a test holds them together).
type Route struct {
	Function string // function name = folder name under functions/
	Trigger  string // TriggerQueue, TriggerTimer or TriggerHTTP
	Binding  string // name of the trigger binding in function.json
	Method   string // method the host uses to reach us
	Path     string // Echo path we serve
	// FunctionRoute is the httpTrigger route of function.json ("" for
	// non-HTTP triggers); Path is "/" + RoutePrefix + "/" + it, with
	// {param} spelled :param.
	FunctionRoute string
	// BodyLimit caps the request body; 0 means Config.MaxInvocationBytes.
	BodyLimit int64
	// BodyRequired: the function cannot work without a body, so an empty
	// one (what the host forwards for a chunked request) is answered 411.
	BodyRequired bool
}

var routes = []Route{
	{Function: "MigrateSegment", Trigger: TriggerQueue, Binding: "msg", Method: http.MethodPost, Path: "/MigrateSegment"},
	{Function: "VerifySegments", Trigger: TriggerTimer, Binding: "timer", Method: http.MethodPost, Path: "/VerifySegments"},
	{Function: "EnqueueSegments", Trigger: TriggerHTTP, Binding: "req", Method: http.MethodPost, Path: "/api/segments/enqueue", FunctionRoute: "segments/enqueue", BodyLimit: SmallBodyLimit},
	{Function: "SegmentStatus", Trigger: TriggerHTTP, Binding: "req", Method: http.MethodGet, Path: "/api/segments/status", FunctionRoute: "segments/status", BodyLimit: SmallBodyLimit},
	{Function: "Files", Trigger: TriggerHTTP, Binding: "req", Method: http.MethodPost, Path: "/api/files/:op", FunctionRoute: "files/{op}", BodyLimit: FilesBodyLimit, BodyRequired: true},
	{Function: "PublishMessage", Trigger: TriggerHTTP, Binding: "req", Method: http.MethodPost, Path: "/api/messages/:queue", FunctionRoute: "messages/{queue}", BodyLimit: SmallBodyLimit, BodyRequired: true},
	{Function: "ReleaseSegments", Trigger: TriggerHTTP, Binding: "req", Method: http.MethodPost, Path: "/api/segments/release", FunctionRoute: "segments/release", BodyLimit: SmallBodyLimit},
	// DrainOutbox has two triggers (REFERENCE §3) and a function has one:
	// the HTTP kick is a function of its own. Its literal route wins over
	// PublishMessage's messages/{queue}, as in ASP.NET (see literalFirst).
	{Function: "DrainOutbox", Trigger: TriggerTimer, Binding: "timer", Method: http.MethodPost, Path: "/DrainOutbox"},
	{Function: "DrainOutboxHttp", Trigger: TriggerHTTP, Binding: "req", Method: http.MethodPost, Path: "/api/messages/drain", FunctionRoute: "messages/drain", BodyLimit: SmallBodyLimit},
}

// Routes returns the route table (a copy).
func Routes() []Route {
	return append([]Route(nil), routes...)
}
