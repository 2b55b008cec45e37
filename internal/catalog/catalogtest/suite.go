// Package catalogtest is the conformance suite every catalog dialect passes:
// the same contract tests run against the embedded SQLite catalog and, when
// a test server is configured, against SQL Server.
package catalogtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
)

// Base is the "now" the suite runs at: microsecond precision, as both
// engines store times.
var Base = time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC)

// Catalog is a dialect's catalog with its Seeder: what the suite, and
// every test that writes Hartonomous rows, opens.
type Catalog interface {
	catalog.Catalog
	catalog.Seeder
}

// WithSeeder is cat with its Seeder (a wrapper such as the retries' passes
// it through), for a test that opened it as the binary does; the test fails
// when there is none.
func WithSeeder(tb testing.TB, cat catalog.Catalog) Catalog {
	tb.Helper()
	c, ok := cat.(Catalog)
	if !ok {
		tb.Fatalf("the %s catalog has no Seeder", cat.Dialect())
	}
	return c
}

// Run runs the whole suite. open returns a new, empty catalog (the schema
// need not be applied; the suite applies it) and arranges its cleanup.
func Run(t *testing.T, open func(t *testing.T) Catalog) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"ApplyIdempotent", testApplyIdempotent},
		{"GetSegment", testGetSegment},
		{"InsertSegmentChecksSize", testInsertSegmentChecksSize},
		{"ListSegments", testListSegments},
		{"MarkQueued", testMarkQueued},
		{"Claim", testClaim},
		{"ClaimRace", testClaimRace},
		{"RecordMigrated", testRecordMigrated},
		{"RecordFailure", testRecordFailure},
		{"RecordVerified", testRecordVerified},
		{"RecordVerifiedReleased", testRecordVerifiedReleased},
		{"ResetBlob", testResetBlob},
		{"ReleasePayload", testReleasePayload},
		{"Finalize", testFinalize},
		{"Status", testStatus},
		{"MigratedSince", testMigratedSince},
		{"Atoms", testAtoms},
		{"AtomsLocator", testAtomsLocator},
		{"AtomsModalities", testAtomsModalities},
		{"OpenPayloadSizes", testOpenPayloadSizes},
		{"OpenPayloadSnapshot", testOpenPayloadSnapshot},
		{"OpenPayloadErrors", testOpenPayloadErrors},
		{"OpenPayloadDoesNotBlockClaims", testOpenPayloadDoesNotBlockClaims},
		{"PrepareSeed", testPrepareSeed},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, setup(t, open)) })
	}
	for _, tc := range outboxCases {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, setup(t, open)) })
	}
	for _, tc := range monitorCases {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, setup(t, open)) })
	}
}

// RunPayload runs the payload-reading cases only (a dialect's other read
// modes, such as SQL Server's READ COMMITTED fallback, pass them too).
func RunPayload(t *testing.T, open func(t *testing.T) Catalog) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"OpenPayloadSizes", testOpenPayloadSizes},
		{"OpenPayloadSnapshot", testOpenPayloadSnapshot},
		{"OpenPayloadErrors", testOpenPayloadErrors},
		{"OpenPayloadDoesNotBlockClaims", testOpenPayloadDoesNotBlockClaims},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, setup(t, open)) })
	}
}

// testPrepareSeed: demo rows never go into tables that hold rows (the
// suite's env has a model and a layer).
func testPrepareSeed(t *testing.T, e *env) {
	if err := e.cat.PrepareSeed(e.ctx); !errors.Is(err, catalog.ErrNotEmpty) {
		t.Fatalf("PrepareSeed on a catalog with rows: %v, want ErrNotEmpty", err)
	}
}

// env is one fresh, applied catalog with a model and a layer.
type env struct {
	t     *testing.T
	ctx   context.Context
	cat   Catalog
	model int64
	layer int64
	next  int64 // next SegmentOrdinal in layer
}

func setup(t *testing.T, open func(t *testing.T) Catalog) *env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cat := open(t)
	if _, err := cat.Apply(ctx, catalog.ApplyParams{}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if pa, ok := cat.(catalog.ProcApplier); ok {
		if _, err := pa.ApplyProcs(ctx, catalog.ApplyParams{}); err != nil {
			t.Fatalf("apply procedures: %v", err)
		}
	}
	e := &env{t: t, ctx: ctx, cat: cat}
	e.model, e.layer = e.newModel("model-a")
	return e
}

// newModel inserts a model with one layer.
func (e *env) newModel(name string) (model, layer int64) {
	e.t.Helper()
	model, err := e.cat.InsertModel(e.ctx, catalog.NewModel{Name: name, Type: "llama"})
	if err != nil {
		e.t.Fatalf("insert model: %v", err)
	}
	layer, err = e.cat.InsertLayer(e.ctx, catalog.NewLayer{ModelID: model, LayerIdx: 0, LayerName: "blk.0", QuantizationType: "Q4_K_M"})
	if err != nil {
		e.t.Fatalf("insert layer: %v", err)
	}
	return model, layer
}

// segment inserts a segment of size bytes (Payload(seed=ordinal)) in layer.
func (e *env) segmentIn(layer int64, size int64) int64 {
	e.t.Helper()
	e.next++
	id, err := e.cat.InsertSegment(e.ctx, catalog.NewSegment{LayerID: layer, SegmentOrdinal: e.next,
		PointOffset: e.next * 100, PointCount: 100, QuantizationType: "Q4_K_M",
		Payload: Payload(uint64(e.next), size), Size: size})
	if err != nil {
		e.t.Fatalf("insert segment: %v", err)
	}
	return id
}

func (e *env) segment(size int64) int64 { return e.segmentIn(e.layer, size) }

func (e *env) get(id int64) catalog.Segment {
	e.t.Helper()
	s, err := e.cat.GetSegment(e.ctx, id)
	if err != nil {
		e.t.Fatalf("get segment %d: %v", id, err)
	}
	return s
}

// sha is a fake, well-formed SHA-256 for segment id.
func sha(id int64) string {
	s := sha256.Sum256(fmt.Appendf(nil, "segment-%d", id))
	return hex.EncodeToString(s[:])
}

func etag(id int64) string { return fmt.Sprintf("\"0x8DD%08d\"", id) }

// migrate claims and records segment id as migrated, as a worker would.
func (e *env) migrate(id int64) catalog.Segment {
	e.t.Helper()
	tok := fmt.Sprintf("tok-migrate-%d", id)
	if err := e.cat.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id, Token: tok, Now: Base, Until: Base.Add(time.Minute)}); err != nil {
		e.t.Fatalf("claim %d: %v", id, err)
	}
	seg := e.get(id)
	err := e.cat.RecordMigrated(e.ctx, catalog.RecordMigratedParams{ID: id, Token: tok, Sha256: sha(id),
		BlobURI: fmt.Sprintf("http://127.0.0.1/tensors/%d.bin", id), ETag: etag(id), Size: seg.PayloadBytes, Now: Base})
	if err != nil {
		e.t.Fatalf("record migrated %d: %v", id, err)
	}
	return e.get(id)
}

// verify records a successful verification of a migrated segment.
func (e *env) verify(id int64) {
	e.t.Helper()
	err := e.cat.RecordVerified(e.ctx, catalog.RecordVerifiedParams{ID: id, ExpectSha256: sha(id), ExpectETag: etag(id),
		State: catalog.StateVerified, Result: "ok", Now: Base})
	if err != nil {
		e.t.Fatalf("record verified %d: %v", id, err)
	}
}

func (e *env) release(id int64) {
	e.t.Helper()
	if err := e.cat.ReleasePayload(e.ctx, catalog.ReleasePayloadParams{ID: id, ExpectSha256: sha(id), ExpectETag: etag(id), Now: Base}); err != nil {
		e.t.Fatalf("release %d: %v", id, err)
	}
}

// readAll reads a payload through OpenPayload, checking that no Read returns
// more than chunk bytes, and returns its length and SHA-256.
func (e *env) readAll(id int64, chunk, bufSize int) (int64, string) {
	e.t.Helper()
	r, err := e.cat.OpenPayload(e.ctx, catalog.OpenPayloadParams{ID: id, Chunk: chunk})
	if err != nil {
		e.t.Fatalf("open payload %d: %v", id, err)
	}
	defer r.Close()
	h := sha256.New()
	buf := make([]byte, bufSize)
	var n int64
	for {
		k, err := r.Read(buf)
		if k > chunk {
			e.t.Fatalf("payload %d: Read returned %d bytes, more than the chunk %d", id, k, chunk)
		}
		h.Write(buf[:k])
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			e.t.Fatalf("read payload %d at %d: %v", id, n, err)
		}
	}
	if n != r.Size() {
		e.t.Fatalf("payload %d: read %d bytes, Size() says %d", id, n, r.Size())
	}
	if err := r.Close(); err != nil {
		e.t.Fatalf("close payload %d: %v", id, err)
	}
	return n, hex.EncodeToString(h.Sum(nil))
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func wantOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func wantState(t *testing.T, s catalog.Segment, want catalog.State) {
	t.Helper()
	if s.State != want {
		t.Fatalf("segment %d: state %q, want %q", s.ID, s.State, want)
	}
}

func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

// norm makes times comparable with ==: UTC location, no monotonic reading.
func norm(s catalog.Segment) catalog.Segment {
	for _, p := range []*time.Time{&s.QueuedAt, &s.MigratedAt, &s.VerifiedAt, &s.ReleasedAt, &s.ClaimedUntil} {
		*p = normTime(*p)
	}
	return s
}

func normStatus(r catalog.StatusRow) catalog.StatusRow {
	r.LastMigratedAt, r.LastVerifiedAt = normTime(r.LastMigratedAt), normTime(r.LastVerifiedAt)
	return r
}

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Round(0)
}
