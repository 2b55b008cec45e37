package retry_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/catalogtest"
	"github.com/hartonomous/offload/internal/catalog/internal/retry"
	"github.com/hartonomous/offload/internal/catalog/sqlite"
	"github.com/hartonomous/offload/internal/catalog/sqlite/sqlitetest"
)

// TestSQLiteBusyRetried: a write that meets another connection's write
// lock past busy_timeout gets SQLITE_BUSY, classified Busy and retried
// with the busy back-off; the retry after the lock is gone succeeds. The
// lock is let go by the sleeper, on the first wait: nothing waits on the
// wall clock but SQLite's own 1 ms busy_timeout.
func TestSQLiteBusyRetried(t *testing.T) {
	ctx := context.Background()
	first, path := sqlitetest.OpenPath(t)
	id, err := first.InsertModel(ctx, catalog.NewModel{Name: "m", Type: "llama"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := sqlite.Open(ctx, path, sqlite.Options{BusyTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()

	lock, err := first.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := lock.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		faults []retry.Fault
		waits  []time.Duration
	)
	classify := func(err error) retry.Fault {
		f := sqlite.Classify(err)
		mu.Lock()
		faults = append(faults, f)
		mu.Unlock()
		return f
	}
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		_, err := lock.ExecContext(ctx, "COMMIT") // the other writer finishes
		return err
	}
	cat, err := catalog.SeederOf(retry.Wrap(second, retry.New(retry.Policy{Classify: classify, Sleep: sleep}), retry.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.InsertLayer(ctx, catalog.NewLayer{ModelID: id, LayerName: "blk.0", QuantizationType: "Q4_K_M"}); err != nil {
		t.Fatalf("insert under a held write lock: %v", err)
	}
	if len(faults) != 1 || faults[0].Class != retry.Busy || faults[0].Number != 5 || !faults[0].Unsent {
		t.Fatalf("classified %+v, want one SQLITE_BUSY (5), busy, unsent", faults)
	}
	if len(waits) != 1 || waits[0] < retry.DefaultBusy.First || waits[0] > retry.DefaultBusy.First*5/4 {
		t.Fatalf("waited %v, want the busy back-off's first wait", waits)
	}
}

// TestPayloadReadersCap: with PayloadReaders 2, a third read waits for a
// slot (here its context ends first), and gets one once a reader closes.
func TestPayloadReadersCap(t *testing.T) {
	ctx := context.Background()
	db := sqlitetest.Open(t)
	m, _ := db.InsertModel(ctx, catalog.NewModel{Name: "m", Type: "llama"})
	l, _ := db.InsertLayer(ctx, catalog.NewLayer{ModelID: m, LayerName: "blk.0", QuantizationType: "Q4_K_M"})
	id, err := db.InsertSegment(ctx, catalog.NewSegment{LayerID: l, SegmentOrdinal: 1, QuantizationType: "Q4_K_M",
		Payload: catalogtest.Payload(1, 100), Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	cat := retry.Wrap(db, retry.New(retry.Policy{Classify: sqlite.Classify}), retry.Options{PayloadReaders: 2})
	a, err := cat.OpenPayload(ctx, catalog.OpenPayloadParams{ID: id, Chunk: 10})
	if err != nil {
		t.Fatal(err)
	}
	b, err := cat.OpenPayload(ctx, catalog.OpenPayloadParams{ID: id, Chunk: 10})
	if err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := cat.OpenPayload(done, catalog.OpenPayloadParams{ID: id, Chunk: 10}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a third reader while two are open: %v, want to wait for a slot", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a.Close() // a second Close gives back no second slot
	c, err := cat.OpenPayload(ctx, catalog.OpenPayloadParams{ID: id, Chunk: 10})
	if err != nil {
		t.Fatalf("a reader after one closed: %v", err)
	}
	if _, err := cat.OpenPayload(done, catalog.OpenPayloadParams{ID: id, Chunk: 10}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a slot was given back twice: %v", err)
	}
	b.Close()
	c.Close()
}
