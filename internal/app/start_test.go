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

func setup(t *testing.T, open func(ctx context.Context, dsn string) (catalog.Catalog, error)) (*Starter, *testenv.SyncBuffer) {
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
	s, err := Start(cfg, config.Host{}, slog.New(slog.NewJSONHandler(logs, nil)), Tuning{},
		StartOptions{AttemptTimeout: 50 * time.Millisecond, Attempts: 3, RetryDelay: 10 * time.Millisecond, Open: open})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

// A catalog that accepts the connection and never answers: the functions
// that need no catalog are there at once, the others wait within their
// context and get the reason, naming the setting and never its secret;
// every attempt is logged, and a later request starts a new round.
func TestStarterCatalogNeverAnswers(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck)
	var calls atomic.Int32
	s, logs := setup(t, func(ctx context.Context, dsn string) (catalog.Catalog, error) {
		calls.Add(1)
		<-stuck // ignores ctx, as a driver waiting on a silent socket may
		return nil, errors.New("unreachable")
	})
	fns, why := s.Functions()
	if fns.Files == nil || fns.PublishMessage == nil || fns.MigrateSegment != nil || why == nil {
		t.Fatalf("before the catalog: files %v, migrate %v, reason %v", fns.Files != nil, fns.MigrateSegment != nil, why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A request waits for the attempt in progress, then gets its outcome.
	err := s.Wait(ctx)
	if err == nil || !strings.Contains(err.Error(), config.SettingSQL) || !strings.Contains(err.Error(), "no answer within 50ms") ||
		strings.Contains(err.Error(), secret) {
		t.Fatalf("Wait: %v", err)
	}
	for err != nil && !strings.Contains(err.Error(), "3 attempts") && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
		err = s.Wait(ctx)
	}
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("after the round: %v", err)
	}
	if n := strings.Count(logs.String(), "catalog not reachable yet; retrying"); n != 2 || strings.Contains(logs.String(), secret) {
		t.Fatalf("%d retries logged, want 2:\n%s", n, logs)
	}
	if calls.Load() != 3 {
		t.Fatalf("%d attempts, want 3", calls.Load())
	}
	if h := s.Health(); !strings.Contains(h, config.SettingSQL) {
		t.Fatalf("health %q", h)
	}
	_ = s.Wait(ctx) // a new round
	if calls.Load() != 4 {
		t.Fatalf("the next request must start another round: %d attempts", calls.Load())
	}
}

// A catalog that answers on the third attempt: the waiting request gets
// every function.
func TestStarterCatalogAnswersLater(t *testing.T) {
	db := sqlitetest.Open(t)
	var calls atomic.Int32
	s, _ := setup(t, func(ctx context.Context, dsn string) (catalog.Catalog, error) {
		if calls.Add(1) < 3 {
			return nil, errors.New("login failed: database is resuming")
		}
		return db, nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.Wait(ctx)
	for err != nil && ctx.Err() == nil {
		if !strings.Contains(err.Error(), "resuming") {
			t.Fatalf("Wait: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
		err = s.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	fns, why := s.Functions()
	if why != nil || fns.MigrateSegment == nil || fns.SegmentStatus == nil || s.App() == nil {
		t.Fatalf("after the catalog: %v", why)
	}
}
