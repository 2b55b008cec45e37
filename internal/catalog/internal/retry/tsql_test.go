package retry_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/catalogtest"
	"github.com/hartonomous/offload/internal/catalog/internal/retry"
	"github.com/hartonomous/offload/internal/catalog/mssql"
	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
	"github.com/hartonomous/offload/tests/tdsproxy"
	mssqldb "github.com/microsoft/go-mssqldb"
)

// The statements whose answer RunLostAnswers loses on T-SQL (as the mssql
// dialect writes them; the proxy matches the SQL text on the wire).
var lostStatements = map[catalogtest.Op]string{
	catalogtest.OpClaim:    "SET ClaimToken = @p1, ClaimedUntil = @p2",
	catalogtest.OpMigrated: "OffloadState = N'migrated', MigratedAt",
	catalogtest.OpRelease:  "SET RawPayload = 0x, OffloadState = N'released'",
	catalogtest.OpMarkSent: "SET OutboxState = N'sent'",
	catalogtest.OpFailure:  "OffloadAttempts = OffloadAttempts + 1",
}

// recorder is a sleeper that waits no wall time and a classifier that
// remembers what it classified.
type recorder struct {
	mu     sync.Mutex
	faults []retry.Fault
	waits  []time.Duration
}

func (r *recorder) classify(err error) retry.Fault {
	f := mssql.Classify(err)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = append(r.faults, f)
	return f
}

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits = append(r.waits, d)
	return ctx.Err()
}

// proxied is a throwaway T-SQL catalog reached through a TDS fault proxy,
// with the retry policy on the recorder.
func proxied(t *testing.T) (catalog.Catalog, *tdsproxy.Proxy, *mssql.DB, *recorder) {
	t.Helper()
	direct, dsn := mssqltest.CatalogDSN(t)
	p, via, err := tdsproxy.StartFor(dsn, tdsproxy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	db, err := mssql.Open(context.Background(), via, mssql.Options{})
	if err != nil {
		t.Fatal(mssql.Redact(err, via))
	}
	t.Cleanup(func() { db.Close() })
	rec := &recorder{}
	r := retry.New(retry.Policy{Classify: rec.classify, Server: mssql.ServerName(via), Sleep: rec.sleep})
	return retry.Wrap(db, r, retry.Options{}), p, direct, rec
}

// TestLostAnswersOnTSQL: the TDS proxy lets the server apply each state
// change, then resets the connection before its answer; the retried commit
// is recognised (catalogtest.RunLostAnswers).
func TestLostAnswersOnTSQL(t *testing.T) {
	catalogtest.RunLostAnswers(t, func(t *testing.T) (catalog.Catalog, catalogtest.Loser) {
		cat, p, _, _ := proxied(t)
		t.Cleanup(func() {
			if n := p.Armed(); n != 0 {
				t.Errorf("%d armed fault(s) never fired: the statement text changed?", n)
			}
		})
		return cat, func(t *testing.T, op catalogtest.Op) {
			p.Arm(tdsproxy.Rule{Match: lostStatements[op], Kind: tdsproxy.ResetAfterApply})
		}
	})
}

// seed adds a model, a layer and a segment of size bytes.
func seed(t *testing.T, db *mssql.DB, size int64) int64 {
	t.Helper()
	ctx := context.Background()
	m, err := db.InsertModel(ctx, catalog.NewModel{Name: "m", Type: "llama"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := db.InsertLayer(ctx, catalog.NewLayer{ModelID: m, LayerName: "blk.0", QuantizationType: "Q4_K_M"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.InsertSegment(ctx, catalog.NewSegment{LayerID: l, SegmentOrdinal: 1, PointCount: 1, QuantizationType: "Q4_K_M",
		Payload: catalogtest.Payload(1, size), Size: size})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestAzureErrorsOnTSQL: each of Azure SQL Database's transient errors,
// sent by the proxy as a TDS ERROR token, reaches go-mssqldb as an
// mssql.Error with its number, is classified by it, and is retried;
// throttling waits longer than a failover.
func TestAzureErrorsOnTSQL(t *testing.T) {
	cat, p, direct, rec := proxied(t)
	id := seed(t, direct, 100)
	want := map[int32]retry.Class{40613: retry.Connection, 40197: retry.Connection,
		40501: retry.Throttled, 10928: retry.Throttled, 49918: retry.Throttled}
	for _, ae := range tdsproxy.AzureNumbers {
		rec.faults, rec.waits = nil, nil
		p.Arm(tdsproxy.Rule{Match: "WHERE s.LayerTensorSegmentId = @p1", Kind: tdsproxy.AzureError, Number: ae.Number})
		if _, err := cat.GetSegment(context.Background(), id); err != nil {
			t.Fatalf("%d: not retried: %v", ae.Number, err)
		}
		if len(rec.faults) != 1 || rec.faults[0].Number != int(ae.Number) || rec.faults[0].Class != want[ae.Number] || !rec.faults[0].Unsent {
			t.Fatalf("%d: classified %+v, want class %v, unsent", ae.Number, rec.faults, want[ae.Number])
		}
		first := retry.DefaultConnection.First
		if want[ae.Number] == retry.Throttled {
			first = retry.DefaultThrottled.First
		}
		if len(rec.waits) != 1 || rec.waits[0] < first {
			t.Fatalf("%d: waited %v, want at least %v", ae.Number, rec.waits, first)
		}
	}
	// Without the retries, the caller sees the server's error as sent.
	raw := cat.(interface{ Unwrap() catalog.Catalog }).Unwrap()
	p.Arm(tdsproxy.Rule{Match: "WHERE s.LayerTensorSegmentId = @p1", Kind: tdsproxy.AzureError, Number: 40613})
	_, err := raw.GetSegment(context.Background(), id)
	var se mssqldb.Error
	if !errors.As(err, &se) || se.Number != 40613 {
		t.Fatalf("without retries: %v, want mssql error 40613", err)
	}
}

func sum(r io.Reader) (string, error) {
	h := sha256.New()
	_, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), err
}

// TestPayloadResumeOnTSQL: a payload read whose connection is cut in the
// middle of a chunk resumes from where it was on a new connection, once
// the server has proven the row unchanged; a row rewritten meanwhile is a
// conflict (start over), never a mixed stream.
func TestPayloadResumeOnTSQL(t *testing.T) {
	cat, p, direct, _ := proxied(t)
	const size = 3<<20 + 123
	id := seed(t, direct, size)
	ctx := context.Background()

	p.Arm(tdsproxy.Rule{Match: "SUBSTRING(RawPayload, @p1, @p2)", Kind: tdsproxy.ResetMidReply, Times: 3})
	r, err := cat.OpenPayload(ctx, catalog.OpenPayloadParams{ID: id, Chunk: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	got, err := sum(r)
	r.Close()
	if err != nil || got != catalogtest.PayloadSHA256(1, size) {
		t.Fatalf("read through 3 cuts: %s, %v", got, err)
	}
	if p.Armed() != 0 {
		t.Fatal("the cuts did not happen")
	}

	// Rewritten after the first chunk: the resume finds another row.
	r, err = cat.OpenPayload(ctx, catalog.OpenPayloadParams{ID: id, Chunk: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.ReadFull(r, make([]byte, 256<<10)); err != nil {
		t.Fatal(err)
	}
	if err := direct.OverwritePayload(ctx, catalog.OverwritePayloadParams{ID: id, Payload: catalogtest.Payload(2, size), Size: size}); err != nil {
		t.Fatal(err)
	}
	p.Arm(tdsproxy.Rule{Match: "SUBSTRING(RawPayload, @p1, @p2)", Kind: tdsproxy.ResetMidReply})
	_, err = io.Copy(io.Discard, r)
	if !errors.Is(err, catalog.ErrConflict) {
		t.Fatalf("resume over a rewritten row: %v, want ErrConflict", err)
	}
}
