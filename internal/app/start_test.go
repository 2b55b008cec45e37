package app

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/sqlite/sqlitetest"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/tests/testenv"
)

const secret = "S3cretPassw0rd"

// steps is a slog.Handler that, after writing a record, hands its message
// to the test (until quit closes): the round's goroutine waits at each log
// line the test listens for, so the test sees every step in order without
// sleeping.
type steps struct {
	slog.Handler
	ch   chan string
	quit chan struct{}
}

func (h steps) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if strings.HasPrefix(r.Message, "catalog") {
		select {
		case h.ch <- r.Message:
		case <-h.quit:
		}
	}
	return err
}

func (h steps) WithAttrs(as []slog.Attr) slog.Handler {
	return steps{h.Handler.WithAttrs(as), h.ch, h.quit}
}

func (h steps) WithGroup(name string) slog.Handler {
	return steps{h.Handler.WithGroup(name), h.ch, h.quit}
}

// setup starts a Starter whose catalog opens with open (each call also
// sent on the returned opened channel); its catalog log lines arrive on
// the returned step channel, one at a time.
func setup(t *testing.T, open func(ctx context.Context, dsn string) (catalog.Catalog, error)) (*Starter, *testenv.SyncBuffer, <-chan string, <-chan struct{}) {
	t.Helper()
	cfg, err := config.Load(func(k string) string {
		return map[string]string{
			config.SettingSQL: "sqlserver://sa:" + secret + "@127.0.0.1:1?database=h",
			// Nothing listens on port 1: Prepare fails, in the background.
			config.SettingStorage: config.DevConnectionString("127.0.0.1", 1, 1),
		}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	h := steps{slog.NewJSONHandler(logs, nil), make(chan string), make(chan struct{})}
	opened := make(chan struct{}, 16)
	counted := func(ctx context.Context, dsn string) (catalog.Catalog, error) {
		opened <- struct{}{}
		return open(ctx, dsn)
	}
	s, err := Start(cfg, config.Host{}, slog.New(h), Tuning{},
		StartOptions{AttemptTimeout: 50 * time.Millisecond, Attempts: 3, RetryDelay: 10 * time.Millisecond, Open: counted})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	t.Cleanup(func() { close(h.quit) }) // runs first: the round's goroutine stops waiting on the test
	return s, logs, h.ch, opened
}

// next receives from ch within ctx.
func next[T any](t *testing.T, ctx context.Context, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		var zero T
		t.Fatal("timed out waiting for the next step")
		return zero
	}
}

// A catalog that accepts the connection and never answers: the functions
// that need no catalog are there at once, the others wait within their
// context and get the reason, naming the setting and never its secret;
// every attempt is logged, and a later request starts a new round.
func TestStarterCatalogNeverAnswers(t *testing.T) {
	t.Parallel()
	stuck := make(chan struct{})
	defer close(stuck)
	s, logs, step, opened := setup(t, func(ctx context.Context, dsn string) (catalog.Catalog, error) {
		<-stuck // ignores ctx, as a driver waiting on a silent socket may
		return nil, errors.New("unreachable")
	})
	fns, why := s.Functions()
	if fns["Files"].IsZero() || fns["PublishMessage"].IsZero() || !fns["MigrateSegment"].IsZero() || why == nil {
		t.Fatalf("before the catalog: files %v, migrate %v, reason %v", !fns["Files"].IsZero(), !fns["MigrateSegment"].IsZero(), why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A request waits for the attempt in progress, then gets its outcome
	// (the round waits at its first retry line until the test reads it).
	err := s.Wait(ctx)
	if err == nil || !strings.Contains(err.Error(), config.SettingSQL) || !strings.Contains(err.Error(), "no answer within 50ms") ||
		!strings.Contains(err.Error(), "attempt 1 of 3") || strings.Contains(err.Error(), secret) {
		t.Fatalf("Wait: %v", err)
	}
	for _, want := range []string{"catalog not reachable yet; retrying", "catalog not reachable yet; retrying", "catalog not reachable: giving up this round"} {
		if got := next(t, ctx, step); got != want {
			t.Fatalf("logged %q, want %q", got, want)
		}
	}
	// The round has ended: its error is published, no new round runs.
	if _, why := s.Functions(); why == nil || !strings.Contains(why.Error(), "3 attempts") || strings.Contains(why.Error(), secret) {
		t.Fatalf("after the round: %v", why)
	}
	for range 3 {
		next(t, ctx, opened)
	}
	select {
	case <-opened:
		t.Fatal("a fourth attempt before any request asked for one")
	default:
	}
	if strings.Contains(logs.String(), secret) {
		t.Fatalf("the secret is logged:\n%s", logs)
	}
	if h := s.Health(); !strings.Contains(h, config.SettingSQL) {
		t.Fatalf("health %q", h)
	}
	// The next request starts another round and gets its first outcome.
	if err := s.Wait(ctx); err == nil || !strings.Contains(err.Error(), "attempt 1 of 3") {
		t.Fatalf("the next request must start another round: %v", err)
	}
	next(t, ctx, opened)
}

// A catalog that answers on the third attempt: the waiting request gets
// every function.
func TestStarterCatalogAnswersLater(t *testing.T) {
	t.Parallel()
	db := sqlitetest.Open(t)
	var calls atomic.Int32
	s, _, step, opened := setup(t, func(ctx context.Context, dsn string) (catalog.Catalog, error) {
		if calls.Add(1) < 3 {
			return nil, errors.New("login failed: database is resuming")
		}
		return db, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// After each attempt has begun, Wait returns that attempt's outcome.
	for attempt := 1; attempt <= 3; attempt++ {
		next(t, ctx, opened)
		err := s.Wait(ctx)
		if attempt < 3 && (err == nil || !strings.Contains(err.Error(), "resuming")) {
			t.Fatalf("attempt %d: Wait: %v", attempt, err)
		}
		if attempt == 3 && err != nil {
			t.Fatal(err)
		}
		next(t, ctx, step) // the retry (or connected) line: the round goes on
	}
	fns, why := s.Functions()
	if why != nil || fns["MigrateSegment"].IsZero() || fns["SegmentStatus"].IsZero() || s.App() == nil {
		t.Fatalf("after the catalog: %v", why)
	}
}
