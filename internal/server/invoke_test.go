package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/hostproto"
	"github.com/hartonomous/offload/internal/server"
)

// Literal REFERENCE §6 payloads, as the Functions host sends them.
const (
	queueDoubleEncoded = `{"Data":{"msg":"\"{\\\"segmentId\\\":1}\""},"Metadata":{"DequeueCount":"1","Id":"\"5f0c6c1e-2f5b-4b8a-9f5e-3a1d2c4b5e6f\"","InsertionTime":"\"2024-05-01T10:00:00+00:00\"","NextVisibleTime":"\"2024-05-01T10:10:00+00:00\"","PopReceipt":"\"AgAAAAMAAAAAAAAA\"","sys":{"MethodName":"MigrateSegment","UtcNow":"2024-05-01T10:00:01.1234567Z","RandGuid":"0f8fad5b-d9cb-469f-a165-70867728950e"}}}`
	queueDequeueNumber = `{"Data":{"msg":"\"{\\\"segmentId\\\":1}\""},"Metadata":{"DequeueCount":3,"Id":"\"abc\""}}`
	queueBinary        = `{"Data":{"msg":"eyJzZWdtZW50SWQiOjF9"},"Metadata":{"DequeueCount":"2","Id":"\"abc\""}}`
	queueObject        = `{"Data":{"msg":{"segmentId":1}},"Metadata":{"DequeueCount":1,"Id":"abc"}}`
	timerPlain         = `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"VerifySegments","UtcNow":"2024-05-01T10:00:00.0012345Z","RandGuid":"6d3a2b8e-3c11-4d59-a2a5-9c2e8c0e1f77"}}}`
	timerDoubleEncoded = `{"Data":{"timer":"{\"Schedule\":{\"AdjustForDST\":false},\"ScheduleStatus\":{\"Last\":\"2024-05-01T09:50:00+00:00\",\"Next\":\"2024-05-01T10:00:00+00:00\",\"LastUpdated\":\"2024-05-01T09:50:00\"},\"IsPastDue\":true}"},"Metadata":{}}`
)

// decodeReply decodes a hostproto reply, checking the exact top-level shape
// the host reads.
func decodeReply(t *testing.T, body []byte) hostproto.Reply {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("reply is not JSON: %s", body)
	}
	if string(raw["Outputs"]) != "{}" || string(raw["ReturnValue"]) != "null" || len(raw) != 3 {
		t.Fatalf("reply = %s, want {Outputs:{}, Logs:[…], ReturnValue:null}", body)
	}
	var r hostproto.Reply
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

type queueCall struct {
	body string
	meta hostproto.QueueMeta
	id   string
}

func TestQueueInvocation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		payload  string
		dequeued int64
		id       string
	}{
		{"double-encoded, DequeueCount string", queueDoubleEncoded, 1, "5f0c6c1e-2f5b-4b8a-9f5e-3a1d2c4b5e6f"},
		{"DequeueCount number", queueDequeueNumber, 3, "abc"},
		{"binary base64", queueBinary, 2, "abc"},
		{"plain object", queueObject, 1, "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls []queueCall
			f := setup(t, server.Functions{"MigrateSegment": {Queue: func(ctx context.Context, body []byte, meta hostproto.QueueMeta) error {
				calls = append(calls, queueCall{string(body), meta, server.InvocationID(ctx)})
				return nil
			}}}, server.Config{})
			rec := f.do(t, req{method: http.MethodPost, path: "/MigrateSegment", body: tc.payload, invocationID: "inv-1"})
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, body %s", rec.Code, rec.Body)
			}
			decodeReply(t, rec.Body.Bytes())
			if len(calls) != 1 {
				t.Fatalf("MigrateSegment called %d times", len(calls))
			}
			c := calls[0]
			if c.body != `{"segmentId":1}` || c.meta.DequeueCount != tc.dequeued || c.meta.ID != tc.id || c.id != "inv-1" {
				t.Fatalf("call = %+v", c)
			}
			logged := withMsg(f.logs.lines(t), "invocation")
			if len(logged) != 1 || logged[0]["invocationId"] != "inv-1" || logged[0]["function"] != "MigrateSegment" ||
				logged[0]["outcome"] != "succeeded" || logged[0]["durationMs"] == nil {
				t.Fatalf("invocation log = %v", logged)
			}
			if f.stderr.String() != "" {
				t.Fatalf("stderr written on success: %s", f.stderr)
			}
		})
	}
}

// The host merges the message's top-level properties into Metadata over its
// own keys (REFERENCE §6): a message with id, dequeueCount or insertionTime
// reaches the function, with those keys left out of its metadata.
func TestQueueInvocationMetadataCollision(t *testing.T) {
	var got hostproto.QueueMeta
	var body []byte
	f := setup(t, server.Functions{"MigrateSegment": {Queue: func(_ context.Context, b []byte, meta hostproto.QueueMeta) error {
		got, body = meta, b
		return nil
	}}}, server.Config{})
	payload := `{"Data":{"msg":"\"{\\\"segmentId\\\":1,\\\"id\\\":\\\"x\\\",\\\"dequeueCount\\\":\\\"many\\\",\\\"insertionTime\\\":\\\"yesterday\\\"}\""},` +
		`"Metadata":{"DequeueCount":"\"many\"","Id":"\"x\"","InsertionTime":"\"yesterday\"","PopReceipt":"\"pr\""}}`
	rec := f.do(t, req{method: http.MethodPost, path: "/MigrateSegment", body: payload, invocationID: "inv-collide"})
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if !strings.Contains(string(body), `"segmentId":1`) || got.ID != "" || got.DequeueCount != 0 || got.PopReceipt != "pr" || len(got.Shadowed) != 3 {
		t.Fatalf("body %s, meta %+v", body, got)
	}
}

func TestQueueInvocationMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, payload string
		status        int
		code          string
	}{
		{"not JSON", `segmentId=1`, http.StatusBadRequest, "bad_invocation"},
		{"missing Data", `{"Metadata":{"DequeueCount":"1"}}`, http.StatusBadRequest, "bad_invocation"},
		{"missing binding", `{"Data":{"message":"\"x\""}}`, http.StatusBadRequest, "bad_invocation"},
		{"msg a number", `{"Data":{"msg":1}}`, http.StatusBadRequest, "bad_invocation"},
		{"bad base64", `{"Data":{"msg":"eyJzZWdtZW50SWQiOjF"}}`, http.StatusBadRequest, "bad_invocation"},
		{"too large", `{"Data":{"msg":"\"` + strings.Repeat("x", 300) + `\""}}`, http.StatusRequestEntityTooLarge, "too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			f := setup(t, server.Functions{"MigrateSegment": {Queue: func(context.Context, []byte, hostproto.QueueMeta) error {
				called = true
				return nil
			}}}, server.Config{MaxInvocationBytes: 256})
			for _, chunked := range []bool{false, true} {
				rec := f.do(t, req{method: http.MethodPost, path: "/MigrateSegment", body: tc.payload, invocationID: "inv-bad", chunked: chunked})
				if rec.Code != tc.status {
					t.Fatalf("chunked=%v: status = %d, want %d (%s)", chunked, rec.Code, tc.status, rec.Body)
				}
				if b := errorBody(t, rec); b.Code != tc.code {
					t.Fatalf("code = %q, want %q", b.Code, tc.code)
				}
			}
			if called {
				t.Fatal("function called for a malformed invocation")
			}
			failed := withMsg(f.stderr.lines(t), "invocation failed")
			if len(failed) != 2 || failed[0]["invocationId"] != "inv-bad" || failed[0]["error"] == "" {
				t.Fatalf("stderr = %s", f.stderr)
			}
		})
	}
}

func TestQueueFuncError(t *testing.T) {
	f := setup(t, server.Functions{"MigrateSegment": {Queue: func(context.Context, []byte, hostproto.QueueMeta) error {
		return errors.New("segments: segment 1 is unknown")
	}}}, server.Config{})
	rec := f.do(t, req{method: http.MethodPost, path: "/MigrateSegment", body: queueDoubleEncoded, invocationID: "inv-err"})
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	r := decodeReply(t, rec.Body.Bytes())
	if len(r.Logs) != 1 || !strings.Contains(r.Logs[0], "segment 1 is unknown") {
		t.Fatalf("Logs = %q", r.Logs)
	}
	lines := f.stderr.lines(t)
	if len(lines) != 1 {
		t.Fatalf("stderr has %d lines, want 1: %s", len(lines), f.stderr)
	}
	l := lines[0]
	if l["level"] != "ERROR" || l["msg"] != "invocation failed" || l["function"] != "MigrateSegment" ||
		l["invocationId"] != "inv-err" || l["error"] != "segments: segment 1 is unknown" || l["status"] != float64(500) {
		t.Fatalf("stderr line = %v", l)
	}
	logged := withMsg(f.logs.lines(t), "invocation")
	if len(logged) != 1 || logged[0]["outcome"] != "failed" || logged[0]["level"] != "ERROR" {
		t.Fatalf("invocation log = %v", logged)
	}
}

func TestTimerInvocation(t *testing.T) {
	for _, tc := range []struct {
		name      string
		payload   string
		pastDue   bool
		hasStatus bool
	}{
		{"plain", timerPlain, false, false},
		{"double-encoded", timerDoubleEncoded, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []hostproto.TimerInfo
			f := setup(t, server.Functions{"VerifySegments": {Timer: func(_ context.Context, ti hostproto.TimerInfo) error {
				got = append(got, ti)
				return nil
			}}}, server.Config{})
			rec := f.do(t, req{method: http.MethodPost, path: "/VerifySegments", body: tc.payload, invocationID: "inv-t"})
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d (%s)", rec.Code, rec.Body)
			}
			decodeReply(t, rec.Body.Bytes())
			if len(got) != 1 || got[0].IsPastDue != tc.pastDue || (got[0].ScheduleStatus != nil) != tc.hasStatus {
				t.Fatalf("timer = %+v", got)
			}
			if logged := strings.Contains(f.logs.String(), "past due"); logged != tc.pastDue {
				t.Fatalf("past due logged = %v, want %v", logged, tc.pastDue)
			}
		})
	}
}

func TestTimerInvocationErrors(t *testing.T) {
	f := setup(t, server.Functions{"VerifySegments": {Timer: func(context.Context, hostproto.TimerInfo) error {
		return errors.New("catalog unreachable")
	}}}, server.Config{})
	rec := f.do(t, req{method: http.MethodPost, path: "/VerifySegments", body: timerPlain})
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", rec.Code)
	}
	if r := decodeReply(t, rec.Body.Bytes()); len(r.Logs) != 1 || !strings.Contains(r.Logs[0], "catalog unreachable") {
		t.Fatalf("Logs = %q", r.Logs)
	}
	rec = f.do(t, req{method: http.MethodPost, path: "/VerifySegments", body: `{"Data":{"timer":5}}`})
	if rec.Code != http.StatusBadRequest || errorBody(t, rec).Code != "bad_invocation" {
		t.Fatalf("malformed timer: status = %d (%s)", rec.Code, rec.Body)
	}
}
