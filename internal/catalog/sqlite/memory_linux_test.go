package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/catalogtest"
)

// Memory is measured as the growth of the process's peak resident set
// (VmHWM, reset through /proc/self/clear_refs), so it counts SQLite's own
// allocations (C memory outside the Go heap) as well as Go's.

type peakRSS struct{ t testing.TB }

func (p peakRSS) read(field string) int64 {
	p.t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		p.t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field+":" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				p.t.Fatal(err)
			}
			return kb << 10
		}
	}
	p.t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// reset collects garbage, resets the peak to the current RSS and returns it.
func (p peakRSS) reset() int64 {
	p.t.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		p.t.Fatalf("cannot reset the peak RSS: %v", err)
	}
	return p.read("VmRSS")
}

// growth is how far the peak rose above base since the last reset.
func (p peakRSS) growth(base int64) int64 { return p.read("VmHWM") - base }

// TestMemoryIndependentOfPayload runs every operation Offload does on a
// segment whose payload is 64 MiB and checks that none makes the process
// grow by more than a quarter of it. Reading through substr(), or keeping
// bookkeeping on the payload row (SQLite rewrites the whole row on UPDATE),
// or summing length() under GROUP BY, each cost at least the payload size.
func TestMemoryIndependentOfPayload(t *testing.T) {
	const size, chunk = 64 << 20, 1 << 20
	const limit = size / 4
	db, ctx := setup(t)
	if _, err := db.Apply(ctx, catalog.ApplyParams{}); err != nil {
		t.Fatal(err)
	}
	m, err := db.InsertModel(ctx, catalog.NewModel{Name: "big", Type: "llama"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := db.InsertLayer(ctx, catalog.NewLayer{ModelID: m, QuantizationType: "F16"})
	if err != nil {
		t.Fatal(err)
	}
	rss := peakRSS{t}
	var id int64
	now := catalogtest.Base
	sha := catalogtest.PayloadSHA256(1, size)
	steps := []struct {
		name string
		fn   func() error
	}{
		{"InsertSegment", func() (err error) {
			id, err = db.InsertSegment(ctx, catalog.NewSegment{LayerID: l, QuantizationType: "F16", Payload: catalogtest.Payload(1, size), Size: size})
			return err
		}},
		{"MarkQueued", func() error {
			_, err := db.MarkQueued(ctx, catalog.MarkQueuedParams{IDs: []int64{id}, Now: now})
			return err
		}},
		{"ClaimSegment", func() error {
			return db.ClaimSegment(ctx, catalog.ClaimSegmentParams{ID: id, Token: "t", Now: now, Until: now.Add(time.Minute)})
		}},
		{"OpenPayload+Read", func() error {
			r, err := db.OpenPayload(ctx, catalog.OpenPayloadParams{ID: id, Chunk: chunk})
			if err != nil {
				return err
			}
			defer r.Close()
			h := sha256.New()
			if _, err := io.CopyBuffer(h, r, make([]byte, chunk)); err != nil {
				return err
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != sha {
				return fmt.Errorf("read sha %s, want %s", got, sha)
			}
			return nil
		}},
		{"RecordMigrated", func() error {
			return db.RecordMigrated(ctx, catalog.RecordMigratedParams{ID: id, Token: "t", Sha256: sha, ETag: "e", Size: size, Now: now})
		}},
		{"RecordVerified", func() error {
			return db.RecordVerified(ctx, catalog.RecordVerifiedParams{ID: id, ExpectSha256: sha, ExpectETag: "e", State: catalog.StateVerified, Result: "ok", Now: now})
		}},
		{"GetSegment", func() error { _, err := db.GetSegment(ctx, id); return err }},
		{"ListSegments", func() error {
			_, err := db.ListSegments(ctx, catalog.SegmentFilter{ModelID: m, States: []catalog.State{catalog.StateVerified}, Limit: 10})
			return err
		}},
		{"Status", func() error { _, err := db.Status(ctx); return err }},
		{"OverwritePayload", func() error {
			return db.OverwritePayload(ctx, catalog.OverwritePayloadParams{ID: id, Payload: catalogtest.Payload(1, size), Size: size})
		}},
		{"ReleasePayload", func() error {
			return db.ReleasePayload(ctx, catalog.ReleasePayloadParams{ID: id, ExpectSha256: sha, ExpectETag: "e", Now: now})
		}},
	}
	for _, s := range steps {
		base := rss.reset()
		if err := s.fn(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		g := rss.growth(base)
		t.Logf("%-18s peak RSS +%d KiB", s.name, g>>10)
		if g > limit {
			t.Errorf("%s grew the process by %d MiB for a %d MiB payload (limit %d MiB)", s.name, g>>20, size>>20, limit>>20)
		}
	}
	if seg, err := db.GetSegment(ctx, id); err != nil || seg.State != catalog.StateReleased || seg.PayloadBytes != 0 {
		t.Fatalf("after release: %+v, %v", seg, err)
	}
}

// BenchmarkReadLargePayload reads a 256 MiB payload through OpenPayload in
// 4 MiB chunks and reports the peak RSS growth (it must stay near the chunk
// size, not the payload size).
func BenchmarkReadLargePayload(b *testing.B) {
	const size, chunk = 256 << 20, 4 << 20
	ctx := context.Background()
	db, err := Open(ctx, b.TempDir()+"/catalog.db", Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Apply(ctx, catalog.ApplyParams{}); err != nil {
		b.Fatal(err)
	}
	m, _ := db.InsertModel(ctx, catalog.NewModel{Name: "big", Type: "llama"})
	l, _ := db.InsertLayer(ctx, catalog.NewLayer{ModelID: m, QuantizationType: "F16"})
	rss := peakRSS{b}
	base := rss.reset()
	id, err := db.InsertSegment(ctx, catalog.NewSegment{LayerID: l, QuantizationType: "F16", Payload: catalogtest.Payload(1, size), Size: size})
	if err != nil {
		b.Fatal(err)
	}
	insertGrowth := rss.growth(base)
	buf := make([]byte, chunk)
	b.SetBytes(size)
	b.ResetTimer()
	base = rss.reset()
	for range b.N {
		r, err := db.OpenPayload(ctx, catalog.OpenPayloadParams{ID: id, Chunk: chunk})
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.CopyBuffer(io.Discard, r, buf); err != nil || n != size {
			b.Fatalf("read %d bytes: %v", n, err)
		}
		r.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(rss.growth(base))/(1<<20), "read-peak-RSS-MiB")
	b.ReportMetric(float64(insertGrowth)/(1<<20), "insert-peak-RSS-MiB")
}
