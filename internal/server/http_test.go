package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/hostproto"
	"github.com/hartonomous/offload/internal/server"
)

// TestRoutesReachTheirFunction sets every function and checks that each
// route calls its own, with path parameters and the invocation id.
func TestRoutesReachTheirFunction(t *testing.T) {
	var called []string
	httpFn := func(name string) echo.HandlerFunc {
		return func(c echo.Context) error {
			called = append(called, name+"|"+c.Param("op")+c.Param("queue")+"|"+server.InvocationID(c.Request().Context()))
			return c.JSON(http.StatusOK, map[string]string{"function": name})
		}
	}
	fns := server.Functions{
		"MigrateSegment": {Queue: func(ctx context.Context, _ []byte, _ hostproto.QueueMeta) error {
			called = append(called, "MigrateSegment||"+server.InvocationID(ctx))
			return nil
		}},
		"VerifySegments": {Timer: func(ctx context.Context, _ hostproto.TimerInfo) error {
			called = append(called, "VerifySegments||"+server.InvocationID(ctx))
			return nil
		}},
		"EnqueueSegments": {HTTP: httpFn("EnqueueSegments")},
		"SegmentStatus":   {HTTP: httpFn("SegmentStatus")},
		"Files":           {HTTP: httpFn("Files"), BodyLimit: server.FilesBodyLimit, BodyRequired: true},
		"PublishMessage":  {HTTP: httpFn("PublishMessage"), BodyRequired: true},
		"ReleaseSegments": {HTTP: httpFn("ReleaseSegments")},
		"DrainOutbox": {Timer: func(ctx context.Context, _ hostproto.TimerInfo) error {
			called = append(called, "DrainOutbox||"+server.InvocationID(ctx))
			return nil
		}},
		"DrainOutboxHttp": {HTTP: httpFn("DrainOutboxHttp")},
	}
	f := setup(t, fns, server.Config{})
	for _, tc := range []struct {
		method, path, body string
		want               string
	}{
		{http.MethodPost, "/MigrateSegment", queueDoubleEncoded, "MigrateSegment||id"},
		{http.MethodPost, "/VerifySegments", timerPlain, "VerifySegments||id"},
		{http.MethodPost, "/api/segments/enqueue", `{"limit":10}`, "EnqueueSegments||id"},
		{http.MethodGet, "/api/segments/status", "", "SegmentStatus||id"},
		{http.MethodPost, "/api/files/read", `{"path":"D:\\Models\\a.gguf"}`, "Files|read|id"},
		{http.MethodPost, "/api/messages/neo4j-sync", `{"a":1}`, "PublishMessage|neo4j-sync|id"},
		{http.MethodPost, "/api/segments/release", `{}`, "ReleaseSegments||id"},
		{http.MethodPost, "/DrainOutbox", timerPlain, "DrainOutbox||id"},
		// A literal route wins over a parameter, in any case (ASP.NET).
		{http.MethodPost, "/api/messages/drain", "", "DrainOutboxHttp||id"},
		{http.MethodPost, "/api/messages/Drain", "", "DrainOutboxHttp||id"},
		{http.MethodPost, "/api/messages/drainer", `{"a":1}`, "PublishMessage|drainer|id"},
	} {
		called = nil
		rec := f.do(t, req{method: tc.method, path: tc.path, body: tc.body, invocationID: "id"})
		if rec.Code != http.StatusOK {
			t.Errorf("%s %s = %d (%s)", tc.method, tc.path, rec.Code, rec.Body)
			continue
		}
		if len(called) != 1 || called[0] != tc.want {
			t.Errorf("%s %s called %q, want %q", tc.method, tc.path, called, tc.want)
		}
	}
}

func TestHTTPErrors(t *testing.T) {
	var handler echo.HandlerFunc
	f := setup(t, server.Functions{
		"Files": {HTTP: func(c echo.Context) error { return handler(c) }, BodyLimit: server.FilesBodyLimit, BodyRequired: true},
	}, server.Config{})
	for _, tc := range []struct {
		name     string
		h        echo.HandlerFunc
		status   int
		code     string
		msg      string // the error text must be exactly this ("" to skip)
		logCause string // and the log line must carry this
	}{
		{"server.Error", func(c echo.Context) error {
			return server.Error(c, http.StatusBadRequest, "path_outside_roots", `path "C:\\x" is outside every root`)
		}, http.StatusBadRequest, "path_outside_roots", `path "C:\\x" is outside every root`, `path "C:\\x" is outside every root`},
		{"echo.HTTPError", func(echo.Context) error {
			return echo.NewHTTPError(http.StatusUnsupportedMediaType, "want application/json")
		}, http.StatusUnsupportedMediaType, "unsupported_media_type", "want application/json", "want application/json"},
		{"plain error is hidden", func(echo.Context) error {
			return errors.New("sql: password=hunter2 refused")
		}, http.StatusInternalServerError, "internal", "", "sql: password=hunter2 refused"},
		{"canceled", func(echo.Context) error {
			return context.Canceled
		}, http.StatusServiceUnavailable, "canceled", "", "context canceled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			handler = tc.h
			rec := f.do(t, req{method: http.MethodPost, path: "/api/files/read", body: `{}`, invocationID: "inv-" + tc.code})
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d (%s)", rec.Code, tc.status, rec.Body)
			}
			raw := rec.Body.String()
			b := errorBody(t, rec)
			if b.Code != tc.code || (tc.msg != "" && b.Error != tc.msg) {
				t.Fatalf("body = %+v", b)
			}
			if strings.Contains(raw, "hunter2") {
				t.Fatalf("internal error leaked: %s", raw)
			}
			var found bool
			for _, l := range withMsg(f.logs.lines(t), "invocation") {
				if l["invocationId"] == "inv-"+tc.code && l["error"] == tc.logCause && l["function"] == "Files" {
					found = true
				}
			}
			if !found {
				t.Fatalf("no invocation log with error %q: %s", tc.logCause, f.logs)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	f := setup(t, server.Functions{
		"PublishMessage": {HTTP: func(c echo.Context) error {
			b, err := io.ReadAll(c.Request().Body)
			if err != nil {
				return err
			}
			return c.JSON(http.StatusOK, map[string]int{"bytes": len(b)})
		}, BodyRequired: true},
	}, server.Config{})
	big := `{"m":"` + strings.Repeat("x", int(server.SmallBodyLimit)) + `"}`
	rec := f.do(t, req{method: http.MethodPost, path: "/api/messages/neo4j-sync", body: big})
	if rec.Code != http.StatusRequestEntityTooLarge || errorBody(t, rec).Code != "too_large" {
		t.Fatalf("status = %d (%s)", rec.Code, rec.Body)
	}
	ok := strings.Repeat("y", int(server.SmallBodyLimit))
	if rec := f.do(t, req{method: http.MethodPost, path: "/api/messages/neo4j-sync", body: ok}); rec.Code != http.StatusOK {
		t.Fatalf("body at the limit: status = %d (%s)", rec.Code, rec.Body)
	}
}

// The host forwards a body only with Content-Length > 0 (REFERENCE §6): a
// chunked body, or an empty one where the function needs a body, is
// answered 411 rather than acted on as if it were empty.
func TestBodyWithoutLength(t *testing.T) {
	called := 0
	h := func(c echo.Context) error { called++; return c.JSON(http.StatusOK, map[string]string{}) }
	f := setup(t, server.Functions{"PublishMessage": {HTTP: h, BodyRequired: true}, "Files": {HTTP: h, BodyLimit: server.FilesBodyLimit, BodyRequired: true}, "EnqueueSegments": {HTTP: h}}, server.Config{})
	for _, r := range []req{
		{method: http.MethodPost, path: "/api/files/write", body: `{"path":"D:\\Models\\a","text":"x"}`, chunked: true},
		{method: http.MethodPost, path: "/api/files/write"},
		{method: http.MethodPost, path: "/api/messages/neo4j-sync"},
		{method: http.MethodPost, path: "/api/segments/enqueue", body: `{"dryRun":true}`, chunked: true},
	} {
		rec := f.do(t, r)
		if rec.Code != http.StatusLengthRequired || errorBody(t, rec).Code != server.CodeLengthRequired {
			t.Fatalf("%s chunked=%v body=%q: status %d (%s)", r.path, r.chunked, r.body, rec.Code, rec.Body)
		}
	}
	if called != 0 {
		t.Fatalf("a function ran %d times on a body the host would not forward", called)
	}
	// An empty body is fine where the body is optional.
	if rec := f.do(t, req{method: http.MethodPost, path: "/api/segments/enqueue"}); rec.Code != http.StatusOK {
		t.Fatalf("optional body: %d %s", rec.Code, rec.Body)
	}
}

// Routes match as ASP.NET routing does: literals in any case, a trailing
// slash allowed; parameters keep the case they were sent in.
func TestRoutesAsTheHostMatchesThem(t *testing.T) {
	var ops []string
	f := setup(t, server.Functions{
		"Files": {HTTP: func(c echo.Context) error {
			ops = append(ops, c.Param("op"))
			return c.JSON(http.StatusOK, map[string]string{})
		}, BodyLimit: server.FilesBodyLimit, BodyRequired: true},
		"SegmentStatus": {HTTP: func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{}) }},
	}, server.Config{})
	for _, p := range []string{"/api/files/exists", "/api/Files/exists", "/API/FILES/Exists", "/api/files/exists/"} {
		if rec := f.do(t, req{method: http.MethodPost, path: p, body: `{"path":"x"}`}); rec.Code != http.StatusOK {
			t.Fatalf("POST %s: %d %s", p, rec.Code, rec.Body)
		}
	}
	if strings.Join(ops, ",") != "exists,exists,Exists,exists" {
		t.Fatalf("ops as the function saw them: %v", ops)
	}
	for _, p := range []string{"/api/segments/status/", "/Api/Segments/Status"} {
		if rec := f.do(t, req{method: http.MethodGet, path: p}); rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", p, rec.Code, rec.Body)
		}
	}
	for _, p := range []string{"/api/files", "/api/files/", "/api/files/a/b", "/apifiles/exists"} {
		if rec := f.do(t, req{method: http.MethodPost, path: p, body: `{}`}); rec.Code != http.StatusNotFound {
			t.Fatalf("POST %s: %d, want 404", p, rec.Code)
		}
	}
}

func TestPanicRecovered(t *testing.T) {
	f := setup(t, server.Functions{
		"SegmentStatus": {HTTP: func(echo.Context) error { panic("nil map in status") }},
		"MigrateSegment": {Queue: func(context.Context, []byte, hostproto.QueueMeta) error {
			var m map[string]int
			m["x"]++ // a real runtime panic
			return nil
		}},
	}, server.Config{})
	for _, r := range []req{
		{method: http.MethodGet, path: "/api/segments/status", invocationID: "inv-p1"},
		{method: http.MethodPost, path: "/MigrateSegment", body: queueDoubleEncoded, invocationID: "inv-p2"},
	} {
		rec := f.do(t, r)
		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("%s: status = %d, want 500", r.path, rec.Code)
		}
		raw := rec.Body.String()
		if b := errorBody(t, rec); b.Code != "internal" {
			t.Fatalf("%s: code = %q", r.path, b.Code)
		}
		if strings.Contains(raw, "goroutine") || strings.Contains(raw, "nil map") || strings.Contains(raw, ".go:") {
			t.Fatalf("%s: panic details leaked: %s", r.path, raw)
		}
	}
	panics := withMsg(f.stderr.lines(t), "handler panicked")
	if len(panics) != 2 || !strings.Contains(panics[0]["stack"].(string), "goroutine") || panics[0]["invocationId"] != "inv-p1" {
		t.Fatalf("panic log = %v", panics)
	}
	// Still serving.
	if rec := f.do(t, req{method: http.MethodGet, path: "/"}); rec.Code != http.StatusOK {
		t.Fatalf("after panics GET / = %d", rec.Code)
	}
}
