package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/hostproto"
	"github.com/hartonomous/offload/internal/server"
)

// pending is a Provider whose catalog functions arrive when ready is closed.
type pending struct {
	mu      sync.Mutex
	ready   chan struct{}
	now     server.Functions // available at once
	later   server.Functions // available once ready
	health  string
	waiters int
}

func (p *pending) Functions() (server.Functions, error) {
	select {
	case <-p.ready:
		return p.later, nil
	default:
		return p.now, errors.New("catalog (SQL_CONNECTION_STRING) is not reachable yet: dial tcp 127.0.0.1:1: i/o timeout")
	}
}

func (p *pending) Wait(ctx context.Context) error {
	p.mu.Lock()
	p.waiters++
	p.mu.Unlock()
	select {
	case <-p.ready:
		return nil
	case <-ctx.Done():
		_, err := p.Functions()
		return err
	}
}

func (p *pending) Health() string { return p.health }

// Readiness never waits for the catalog; a function that needs it waits
// within its deadline and then fails 503 naming what is unreachable; one
// that does not need it runs at once; once the catalog answers, all run.
func TestLazyFunctions(t *testing.T) {
	ok := func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"ok": "yes"}) }
	p := &pending{ready: make(chan struct{}), now: server.Functions{"Files": {HTTP: ok, BodyLimit: server.FilesBodyLimit, BodyRequired: true}}, later: server.Functions{"Files": {HTTP: ok, BodyLimit: server.FilesBodyLimit, BodyRequired: true}, "SegmentStatus": {HTTP: ok}}}
	f := &fixture{logs: &syncBuffer{}, stderr: &syncBuffer{}}
	f.srv = newServer(t, server.Config{Stderr: f.stderr, InvocationTimeout: 200 * time.Millisecond}, p)

	if rec := f.do(t, req{method: http.MethodGet, path: "/"}); rec.Code != http.StatusOK {
		t.Fatalf("readiness: %d", rec.Code)
	}
	if rec := f.do(t, req{method: http.MethodPost, path: "/api/files/exists", body: `{"path":"x"}`}); rec.Code != http.StatusOK {
		t.Fatalf("a function that needs no catalog: %d %s", rec.Code, rec.Body)
	}
	start := time.Now()
	rec := f.do(t, req{method: http.MethodGet, path: "/api/segments/status"})
	took := time.Since(start)
	b := errorBody(t, rec)
	if rec.Code != http.StatusServiceUnavailable || b.Code != server.CodeUnavailable || !strings.Contains(b.Error, "SQL_CONNECTION_STRING") ||
		!strings.Contains(b.Error, "deadline") || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("before the catalog answers: %d %+v", rec.Code, b)
	}
	if took < 150*time.Millisecond || took > 5*time.Second || p.waiters != 1 {
		t.Fatalf("waited %s (%d waiters), want about the 200ms deadline", took, p.waiters)
	}
	close(p.ready)
	if rec := f.do(t, req{method: http.MethodGet, path: "/api/segments/status"}); rec.Code != http.StatusOK {
		t.Fatalf("after: %d %s", rec.Code, rec.Body)
	}
}

// An invocation past its deadline fails, saying so and naming what did
// not answer, well before the host's functionTimeout would kill the worker.
func TestInvocationDeadline(t *testing.T) {
	p := &pending{ready: make(chan struct{}), health: "blob storage (AzureWebJobsStorage) has not answered since 10:00:00"}
	p.later = server.Functions{"MigrateSegment": {Queue: func(ctx context.Context, _ []byte, _ hostproto.QueueMeta) error {
		<-ctx.Done()
		return ctx.Err()
	}}}
	close(p.ready)
	f := &fixture{logs: &syncBuffer{}, stderr: &syncBuffer{}}
	f.srv = newServer(t, server.Config{Stderr: f.stderr, InvocationTimeout: 100 * time.Millisecond}, p)
	rec := f.do(t, req{method: http.MethodPost, path: "/MigrateSegment", body: queueDoubleEncoded, invocationID: "inv-late"})
	var r hostproto.Reply
	if err := json.Unmarshal(rec.Body.Bytes(), &r); err != nil || rec.Code != http.StatusInternalServerError || len(r.Logs) != 1 ||
		!strings.Contains(r.Logs[0], "stopped at its deadline of 100ms") || !strings.Contains(r.Logs[0], "AzureWebJobsStorage") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(f.stderr.String(), "stopped at its deadline") {
		t.Fatalf("the reason must reach stderr: %s", f.stderr)
	}
}
