package outbox_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hartonomous/offload/inbox"
	"github.com/hartonomous/offload/internal/azurite/azuritetest"
	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/mssql"
	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
	"github.com/hartonomous/offload/internal/catalog/sqlite/sqlitetest"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/outbox"
)

var (
	// az is the test binary's Azurite, started by the first test that needs it.
	az   azuritetest.Shared
	uniq atomic.Int64
)

func TestMain(m *testing.M) { az.Main(m) }

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t      testing.TB
	ctx    context.Context
	cat    catalog.Catalog
	broker *broker.Client
	queue  string // in PUBLISH_QUEUES, fresh for this test
	clock  *clock
	cfg    outbox.Config
	svc    *outbox.Service
}

// opener gives a test a fresh catalog with the schema (and procedures).
type opener struct {
	name string
	open func(testing.TB) catalog.Catalog
}

var embedded = opener{"sqlite", func(tb testing.TB) catalog.Catalog { return sqlitetest.Open(tb) }}

// onServer is the T-SQL engine of MSSQL_TEST_DSN (the test skips without
// it): a throwaway database with the Hartonomous tables, Offload's schema
// and dbo.usp_PublishMessage.
var onServer = opener{"mssql", func(tb testing.TB) catalog.Catalog {
	dsn := mssqltest.Database(tb)
	ctx := context.Background()
	db, err := mssql.Open(ctx, dsn, mssql.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.PrepareSeed(ctx); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.Apply(ctx, catalog.ApplyParams{}); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.ApplyProcs(ctx, catalog.ApplyParams{}); err != nil {
		tb.Fatal(err)
	}
	return db
}}

// setup gives each test its own catalog and queue on the shared Azurite,
// and a Service on a test clock (which starts at the real time: SQL Server
// stamps CreatedAt itself).
func setup(t testing.TB, o opener, mutate ...func(*outbox.Config)) *env {
	t.Helper()
	b, err := broker.New(config.Storage{ConnectionString: az.Get(t).ConnectionString}, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), cat: o.open(t), broker: b,
		queue: fmt.Sprintf("outbox-%d-%d", os.Getpid()%10000, uniq.Add(1)),
		clock: &clock{t: time.Now().UTC().Truncate(time.Microsecond)}}
	e.cfg = outbox.Config{Catalog: e.cat, Sender: b, Allowed: []string{e.queue},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: e.clock.Now}
	for _, m := range mutate {
		m(&e.cfg)
	}
	e.svc = e.service(e.cfg)
	return e
}

func (e *env) service(cfg outbox.Config) *outbox.Service {
	e.t.Helper()
	s, err := outbox.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// publish commits one transaction with msgs on conv and returns their ids.
func (e *env) publish(queue, conv string, msgs ...string) []string {
	e.t.Helper()
	tx, err := e.cat.BeginPublish(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, m := range msgs {
		id, err := tx.Publish(e.ctx, catalog.OutboxMessage{Queue: queue, ConversationID: conv, Message: m, Now: e.clock.Now()})
		if err != nil {
			tx.Rollback()
			e.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := tx.Commit(); err != nil {
		e.t.Fatal(err)
	}
	return ids
}

func (e *env) drain() outbox.DrainResult {
	e.t.Helper()
	res, err := e.svc.Drain(e.ctx, outbox.DrainParams{})
	if err != nil {
		e.t.Fatalf("drain: %v (%+v)", err, res)
	}
	return res
}

// received is every message in the queue, taken off it, in arrival order.
func (e *env) received() []inbox.Event {
	e.t.Helper()
	var out []inbox.Event
	for {
		msgs, err := e.broker.Receive(e.ctx, e.queue, 32, time.Minute)
		if err != nil {
			e.t.Fatal(err)
		}
		if len(msgs) == 0 {
			return out
		}
		for _, m := range msgs {
			ev, err := inbox.ParseEvent(m.Body)
			if err != nil {
				e.t.Fatal(err)
			}
			out = append(out, ev)
			if err := e.broker.Complete(e.ctx, m); err != nil {
				e.t.Fatal(err)
			}
		}
	}
}

func (e *env) status() outbox.Status {
	e.t.Helper()
	st, err := e.svc.Status(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func cloudEvent(id string, n int) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/hartonomous/dbo/Atoms","type":"hartonomous.atom.updated","subject":"%d","data":{"n":%d}}`, id, n, n)
}

// flaky is a Sender whose Publish fails while fail says so.
type flaky struct {
	outbox.Sender
	fail  func(queue string, body []byte) bool
	calls atomic.Int64
}

func (f *flaky) Publish(ctx context.Context, queue string, body []byte, delay time.Duration) (string, error) {
	f.calls.Add(1)
	if f.fail(queue, body) {
		return "", fmt.Errorf("broker: publish to %s: 503 ServerBusy (injected)", queue)
	}
	return f.Sender.Publish(ctx, queue, body, delay)
}
