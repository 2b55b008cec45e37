// Package hostproto is the wire format between the Azure Functions host and
// a custom handler (REFERENCE §6): the invocation envelope the host POSTs to
// /<FunctionName> for non-HTTP triggers, and the reply it expects back.
//
// The shapes below are what the host really sends, not what the
// documentation samples show. The host builds each value with
// ScriptInvocationContextExtensions.GetHttpScriptInvocationContextValue:
// a byte[] of a "binary" binding is serialised by Newtonsoft as base64 text;
// anything that JObject.FromObject accepts (a POCO such as TimerInfo) arrives
// as a plain JSON object; everything else (strings, numbers, dates) goes
// through JsonConvert.SerializeObject first and is then embedded as a JSON
// string, that is, encoded twice. Hence, for a queue trigger named "msg":
//
//	{"Data":{"msg":"\"{\\\"segmentId\\\":1}\""},
//	 "Metadata":{"DequeueCount":"1","Id":"\"5f0c…\"","InsertionTime":"\"2024-05-01T10:00:00+00:00\"",
//	             "PopReceipt":"\"AgAAAAMAAAAAAAAA\"","sys":{"MethodName":"MigrateSegment",…}}}
//
// and for a timer trigger named "timer":
//
//	{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},
//	 "Metadata":{"sys":{…}}}
//
// Metadata is the trigger's binding data, and for a queue message that is
// a JSON object the message's own top-level properties are merged into it,
// case-insensitively, over the host's keys (QueueTriggerBinding): a message
// {"segmentId":1,"id":"x"} replaces Id. QueueMeta leaves such keys out.
//
// The invocation id is not in the body: the host sends it in the
// X-Azure-Functions-InvocationId request header.
//
// The reply is {"Outputs":{},"Logs":[…],"ReturnValue":null}. Any non-2xx
// status fails the invocation and the host then drops Logs, so failures must
// also be logged to stderr by the caller.
package hostproto
