package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/server"
)

// slowStatus is a SegmentStatus that signals when it has started and
// answers only when released.
func slowStatus(started chan<- struct{}, release <-chan struct{}) echo.HandlerFunc {
	return func(c echo.Context) error {
		close(started)
		<-release
		return c.JSON(http.StatusOK, map[string]string{"state": "done"})
	}
}

func serve(t *testing.T, cfg server.Config, fns server.Functions) (addr string, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	srv := setup(t, fns, cfg).srv
	go func() { errc <- srv.Serve(ctx, ln) }()
	t.Cleanup(cancel)
	return ln.Addr().String(), cancel, errc
}

func TestGracefulShutdown(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	addr, cancel, done := serve(t, server.Config{}, server.Functions{"SegmentStatus": {HTTP: slowStatus(started, release)}})

	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/api/segments/status")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{resp.StatusCode, string(b), err}
	}()
	<-started

	cancel() // what SIGTERM does through signal.NotifyContext
	// Wait until the server refuses new connections, so the slow request is
	// surely in flight during the shutdown.
	for {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v while a request was in flight", err)
	default:
	}
	close(release)

	r := <-res
	if r.err != nil || r.status != http.StatusOK || !strings.Contains(r.body, `"done"`) {
		t.Fatalf("in-flight request: %+v", r)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve = %v, want nil after a graceful shutdown", err)
	}
}

func TestShutdownTimeout(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	addr, cancel, done := serve(t, server.Config{ShutdownTimeout: 1, AbortGrace: 1}, server.Functions{"SegmentStatus": {HTTP: slowStatus(started, release)}})
	getAsync(addr, "/api/segments/status")
	<-started
	cancel()
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Serve = %v, want a deadline error when a request outlives ShutdownTimeout", err)
	}
}

// A request that outlives ShutdownTimeout has its context cancelled with
// ErrShutdownDeadline and may wind up (record its failure) within
// AbortGrace: Serve returns only once it has.
func TestShutdownCancelsStragglers(t *testing.T) {
	started := make(chan struct{})
	var cause error
	woundUp := make(chan struct{})
	straggler := func(c echo.Context) error {
		close(started)
		<-c.Request().Context().Done()
		cause = context.Cause(c.Request().Context())
		time.Sleep(50 * time.Millisecond) // recording the failure
		close(woundUp)
		return c.NoContent(http.StatusServiceUnavailable)
	}
	addr, cancel, done := serve(t, server.Config{ShutdownTimeout: 100 * time.Millisecond, AbortGrace: 10 * time.Second},
		server.Functions{"SegmentStatus": {HTTP: straggler}})
	getAsync(addr, "/api/segments/status")
	<-started
	cancel()
	if err := <-done; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Serve = %v, want the shutdown's deadline error", err)
	}
	select {
	case <-woundUp:
	default:
		t.Fatal("Serve returned before the cancelled request wound up")
	}
	if !errors.Is(cause, server.ErrShutdownDeadline) {
		t.Fatalf("request context's cause = %v, want ErrShutdownDeadline", cause)
	}
}

// getAsync sends GET path in the background; the answer does not matter.
func getAsync(addr, path string) {
	go func() {
		if resp, err := http.Get("http://" + addr + path); err == nil {
			resp.Body.Close()
		}
	}()
}

func TestListenAndServeBadAddr(t *testing.T) {
	srv := newServer(t, server.Config{Addr: "127.0.0.1:notaport"}, static{})
	if err := srv.ListenAndServe(context.Background()); err == nil || !strings.Contains(err.Error(), "127.0.0.1:notaport") {
		t.Fatalf("ListenAndServe = %v, want a listen error naming the address", err)
	}
}
