package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hartonomous/offload/functions"
	"github.com/hartonomous/offload/internal/hostproto"
	"github.com/hartonomous/offload/internal/server"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines decodes the JSON log lines written so far.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// withMsg returns the log lines whose msg is msg.
func withMsg(lines []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

type fixture struct {
	srv    *server.Server
	logs   *syncBuffer
	stderr *syncBuffer
}

func setup(t *testing.T, fns server.Functions, cfg server.Config) *fixture {
	t.Helper()
	f := &fixture{logs: &syncBuffer{}, stderr: &syncBuffer{}}
	cfg.Logger = slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Stderr = f.stderr
	f.srv = newServer(t, cfg, static{fns})
	return f
}

// newServer is a server for the real functions/*/function.json.
func newServer(t *testing.T, cfg server.Config, p server.Provider) *server.Server {
	t.Helper()
	defs, err := functions.Definitions()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, defs, p)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// static provides fixed functions.
type static struct{ fns server.Functions }

func (s static) Functions() (server.Functions, error) { return s.fns, nil }
func (static) Wait(context.Context) error             { return nil }
func (static) Health() string                         { return "" }

// hostRoutes is how the host reaches each function (its function.json's
// route and method, or POST /<Name>), with sample parameter values.
var hostRoutes = []struct{ function, method, path string }{
	{"MigrateSegment", http.MethodPost, "/MigrateSegment"},
	{"VerifySegments", http.MethodPost, "/VerifySegments"},
	{"EnqueueSegments", http.MethodPost, "/api/segments/enqueue"},
	{"SegmentStatus", http.MethodGet, "/api/segments/status"},
	{"Files", http.MethodPost, "/api/files/read"},
	{"PublishMessage", http.MethodPost, "/api/messages/neo4j-sync"},
	{"ReleaseSegments", http.MethodPost, "/api/segments/release"},
	{"DrainOutbox", http.MethodPost, "/DrainOutbox"},
	{"DrainOutboxHttp", http.MethodPost, "/api/messages/drain"},
	{"Dashboard", http.MethodGet, "/api/dashboard/data"},
}

// TestHostRoutesCoverEveryFunction keeps hostRoutes to the function.json
// files: one row per function.
func TestHostRoutesCoverEveryFunction(t *testing.T) {
	defs, err := functions.Definitions()
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, d := range defs {
		want = append(want, d.Name)
	}
	for _, r := range hostRoutes {
		got = append(got, r.function)
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("hostRoutes covers %v, function.json files %v", got, want)
	}
}

type req struct {
	method, path, body string
	invocationID       string
	chunked            bool // no Content-Length
}

func (f *fixture) do(t *testing.T, r req) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader = strings.NewReader(r.body)
	if r.chunked {
		body = io.MultiReader(body) // hides the length from NewRequest
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	if r.chunked {
		hr.ContentLength = -1
	}
	if r.body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.invocationID != "" {
		hr.Header.Set(hostproto.InvocationIDHeader, r.invocationID)
	}
	rec := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(rec, hr)
	return rec
}

// errorBody decodes an ErrorBody response, failing on any other shape.
func errorBody(t *testing.T, rec *httptest.ResponseRecorder) server.ErrorBody {
	t.Helper()
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	var b server.ErrorBody
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("response is not {error, code} JSON: %v", err)
	}
	if b.Error == "" || b.Code == "" {
		t.Fatalf("error body has an empty field: %+v", b)
	}
	return b
}

func TestReadiness(t *testing.T) {
	f := setup(t, server.Functions{}, server.Config{})
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		rec := f.do(t, req{method: m, path: "/"})
		if rec.Code != http.StatusOK {
			t.Errorf("%s / = %d, want 200", m, rec.Code)
		}
		if m == http.MethodHead && rec.Body.Len() != 0 {
			t.Errorf("HEAD / has a body: %q", rec.Body)
		}
	}
}

func TestUnknownRoutes(t *testing.T) {
	f := setup(t, server.Functions{}, server.Config{})
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/nope", http.StatusNotFound, "not_found"},
		{http.MethodPost, "/api/unknown/function", http.StatusNotFound, "not_found"},
		{http.MethodPost, "/Unknown", http.StatusNotFound, "not_found"},
		{http.MethodPost, "/api/files", http.StatusNotFound, "not_found"},
		{http.MethodGet, "/api/files/read", http.StatusMethodNotAllowed, "method_not_allowed"},
		{http.MethodPost, "/api/segments/status", http.StatusMethodNotAllowed, "method_not_allowed"},
		{http.MethodGet, "/MigrateSegment", http.StatusMethodNotAllowed, "method_not_allowed"},
	} {
		rec := f.do(t, req{method: tc.method, path: tc.path})
		if rec.Code != tc.status {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, rec.Code, tc.status)
			continue
		}
		if b := errorBody(t, rec); b.Code != tc.code {
			t.Errorf("%s %s code = %q, want %q", tc.method, tc.path, b.Code, tc.code)
		}
	}
}

func TestNotImplemented(t *testing.T) {
	f := setup(t, server.Functions{}, server.Config{})
	for _, r := range hostRoutes {
		rec := f.do(t, req{method: r.method, path: r.path, body: `{}`, invocationID: "inv-" + r.function})
		if rec.Code != http.StatusNotImplemented {
			t.Errorf("%s %s = %d, want 501", r.method, r.path, rec.Code)
			continue
		}
		want := `{"error":"` + r.function + ` is not implemented yet","code":"not_implemented"}`
		if got := strings.TrimSpace(rec.Body.String()); got != want {
			t.Errorf("%s body = %s, want %s", r.function, got, want)
		}
	}
}
