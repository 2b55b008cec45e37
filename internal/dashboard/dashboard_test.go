package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/sqlite"
	"github.com/hartonomous/offload/internal/catalog/sqlite/sqlitetest"
	"github.com/hartonomous/offload/internal/dashboard/dashboardtest"
)

// now is the moment every test looks at the catalog.
var now = time.Date(2026, 12, 1, 12, 30, 15, 0, time.UTC)

// hostile is a model name that would run script if it reached the page as
// markup.
const hostile = `<img src=x onerror="alert(1)">Llama "4"`

type env struct {
	t   *testing.T
	ctx context.Context
	db  *sqlite.DB
	svc *Service
	ids []int64 // segments of the hostile model, then of qwen
}

// setup is a catalog in the middle of a migration: two models, segments in
// every interesting state, a failure, a verification run and a failed
// outbox message.
func setup(t *testing.T) *env {
	t.Helper()
	t.Parallel()
	e := &env{t: t, ctx: context.Background(), db: sqlitetest.Open(t)}
	var err error
	e.svc, err = New(Config{Catalog: e.db, PoisonQueue: "segment-migration-poison", Now: func() time.Time { return now },
		QueueLength: func(context.Context, string) (int64, error) { return 3, nil }})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{hostile, "qwen3-coder"} {
		m := e.must(e.db.InsertModel(e.ctx, catalog.NewModel{Name: name, Type: "llama"}))
		l := e.must(e.db.InsertLayer(e.ctx, catalog.NewLayer{ModelID: m, QuantizationType: "Q8_0"}))
		for i := range 4 {
			size := int64(1000 * (i + 1))
			id := e.must(e.db.InsertSegment(e.ctx, catalog.NewSegment{LayerID: l, SegmentOrdinal: int64(i), QuantizationType: "Q8_0",
				Payload: strings.NewReader(strings.Repeat("x", int(size))), Size: size}))
			e.ids = append(e.ids, id)
		}
	}
	// Model 1: 2 migrated (one verified, then released), 1 failed, 1 pending.
	// Model 2: 3 migrated (one verified), 1 pending.
	e.migrate(e.ids[0], now.Add(-50*time.Minute))
	e.migrate(e.ids[1], now.Add(-10*time.Minute))
	e.migrate(e.ids[4], now.Add(-10*time.Minute))
	e.migrate(e.ids[5], now.Add(-70*time.Minute)) // before the chart's hour
	e.migrate(e.ids[6], now.Add(-1*time.Second))
	e.verify(e.ids[0])
	e.verify(e.ids[4])
	e.ok(e.db.ReleasePayload(e.ctx, catalog.ReleasePayloadParams{ID: e.ids[0], ExpectSha256: sha(e.ids[0]), ExpectETag: etag(e.ids[0]), Now: now}))
	tok := "tok-fail"
	e.ok(e.db.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: e.ids[2], Token: tok, Now: now, Until: now.Add(time.Minute)}))
	e.ok(e.db.RecordFailure(e.ctx, catalog.RecordFailureParams{ID: e.ids[2], Token: tok, Error: "storage: 503 <b>busy</b>", Now: now.Add(-time.Minute)}))
	e.ok(e.db.RecordVerifyRun(e.ctx, catalog.RecordVerifyRunParams{StartedAt: now.Add(-5 * time.Minute), EndedAt: now.Add(-4 * time.Minute),
		FullChecked: 2, Verified: 2, BytesHashed: 6000}))
	tx, err := e.db.BeginPublish(e.ctx)
	e.ok(err)
	_, err = tx.Publish(e.ctx, catalog.OutboxMessage{Queue: "neo4j-sync", Message: `{"n":1}`, Now: now.Add(-2 * time.Minute)})
	e.ok(err)
	e.ok(tx.Commit())
	return e
}

func (e *env) ok(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) must(id int64, err error) int64 {
	e.t.Helper()
	e.ok(err)
	return id
}

func sha(id int64) string  { return fmt.Sprintf("%064x", id) }
func etag(id int64) string { return fmt.Sprintf(`"0x%d"`, id) }

func (e *env) migrate(id int64, at time.Time) {
	e.t.Helper()
	tok := fmt.Sprintf("tok-%d", id)
	seg, err := e.db.GetSegment(e.ctx, id)
	e.ok(err)
	e.ok(e.db.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id, Token: tok, Now: at, Until: at.Add(time.Minute)}))
	e.ok(e.db.RecordMigrated(e.ctx, catalog.RecordMigratedParams{ID: id, Token: tok, Sha256: sha(id), BlobURI: "http://x/" + tok,
		ETag: etag(id), Size: seg.PayloadBytes, Now: at}))
}

func (e *env) verify(id int64) {
	e.t.Helper()
	e.ok(e.db.RecordVerified(e.ctx, catalog.RecordVerifiedParams{ID: id, ExpectSha256: sha(id), ExpectETag: etag(id),
		State: catalog.StateVerified, Result: "ok", Now: now}))
}

func (e *env) snapshot() Snapshot {
	e.t.Helper()
	snap, err := e.svc.Snapshot(e.ctx)
	e.ok(err)
	return snap
}

func states(p Progress) map[catalog.State]int64 {
	m := map[catalog.State]int64{}
	for _, s := range p.States {
		m[s.State] = s.Segments
	}
	return m
}

// TestSnapshotCountsWhatTheCatalogHolds: every number the page shows is
// the catalog's, per model and overall.
func TestSnapshotCountsWhatTheCatalogHolds(t *testing.T) {
	e := setup(t)
	snap := e.snapshot()
	if len(snap.Models) != 2 || snap.Models[0].ModelName != hostile {
		t.Fatalf("models: %+v", snap.Models)
	}
	m1, m2 := states(snap.Models[0].Progress), states(snap.Models[1].Progress)
	if m1[catalog.StateReleased] != 1 || m1[catalog.StateMigrated] != 1 || m1[catalog.StatePending] != 2 ||
		m2[catalog.StateVerified] != 1 || m2[catalog.StateMigrated] != 2 || m2[catalog.StatePending] != 1 {
		t.Fatalf("per-model states: %v %v", m1, m2)
	}
	if o := snap.Overall; o.Segments != 8 || o.Bytes != 2*(1000+2000+3000+4000) || o.DoneBytes != 1000+1000 ||
		o.RemainingBytes != 3000+4000+4000 {
		t.Fatalf("overall: %+v", o)
	}
	for _, p := range append([]Progress{snap.Overall}, snap.Models[0].Progress, snap.Models[1].Progress) {
		if len(p.Bar) != len(catalog.AllStates) || p.Bar[len(p.Bar)-1].X+p.Bar[len(p.Bar)-1].Width != barWidth {
			t.Fatalf("bar does not span the box: %+v", p.Bar)
		}
	}
	// The chart: 60 one-minute buckets ending now; 4 migrations fell in it.
	tp := snap.Throughput
	var segs, bytes int64
	for _, b := range tp.Buckets {
		segs, bytes = segs+b.Segments, bytes+b.Bytes
	}
	if len(tp.Buckets) != 60 || segs != 4 || bytes != 1000+2000+1000+3000 || tp.BytesPerSec <= 0 || tp.Points == "" {
		t.Fatalf("throughput: %d buckets, %d segments, %d bytes, %+v", len(tp.Buckets), segs, bytes, tp)
	}
	if snap.Overall.ETASeconds == nil || snap.Models[1].ETASeconds == nil {
		t.Fatal("no ETA although segments moved in the last hour")
	}
	v := snap.Verification
	if v.ReadBack != 2 || v.Unverified != 3 || v.LastRun == nil || v.LastRun.FullChecked != 2 || v.LastFullPassEndedAt != nil || v.Day.Runs != 1 {
		t.Fatalf("verification: %+v", v)
	}
	f := snap.Failures
	if f.Total != 1 || len(f.Reasons) != 1 || f.Reasons[0].Reason != "storage: 503 <b>busy</b>" || len(f.Latest) != 1 ||
		f.Latest[0].SegmentID != e.ids[2] || f.PoisonMessages == nil || *f.PoisonMessages != 3 {
		t.Fatalf("failures: %+v", f)
	}
	if o := snap.Outbox; o.Pending != 1 || o.OldestPendingAgeSeconds != 120 {
		t.Fatalf("outbox: %+v", o)
	}
	if r := snap.Release; r.SafeSegments != 1 || r.SafeBytes != 1000 || r.Released != 1 || r.FinalizeReady || len(r.FinalizeBlockers) != 3 {
		t.Fatalf("release: %+v", r)
	}
}

// TestPageIsTheSnapshot: the first view holds every bound value of the
// JSON, a hostile model name stays text, the function key the page was
// opened with is not in it, and the answer is never cached and runs only
// its own hashed script.
func TestPageIsTheSnapshot(t *testing.T) {
	e := setup(t)
	page := httptest.NewRecorder()
	e.svc.Serve(page, httptest.NewRequest(http.MethodGet, "/api/dashboard?code=SECRET-KEY-123", nil), ViewPage)
	data := httptest.NewRecorder()
	e.svc.Serve(data, httptest.NewRequest(http.MethodGet, "/api/dashboard/data?code=SECRET-KEY-123", nil), ViewData)
	if page.Code != 200 || data.Code != 200 {
		t.Fatalf("status %d, %d: %s", page.Code, data.Code, data.Body)
	}
	body := page.Body.String()
	if strings.Contains(body, "SECRET-KEY-123") || strings.Contains(data.Body.String(), "SECRET-KEY-123") {
		t.Fatal("the function key is in the answer")
	}
	for _, r := range []*httptest.ResponseRecorder{page, data} {
		csp := r.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'sha256-") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "default-src 'none'") {
			t.Fatalf("CSP %q", csp)
		}
		if r.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control %q", r.Header().Get("Cache-Control"))
		}
	}
	var snap any
	if err := json.Unmarshal(data.Body.Bytes(), &snap); err != nil {
		t.Fatal(err)
	}
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r := dashboardtest.Compare(doc, snap, func(string) bool { return false })
	for _, m := range r.Mismatches {
		t.Error(m)
	}
	for _, el := range r.Elements {
		if el == "img" {
			t.Fatalf("catalog text became markup: <%s>", el)
		}
	}
	var texts int
	for _, tx := range r.Texts {
		if strings.Contains(tx, hostile) || strings.Contains(tx, "<b>busy</b>") {
			texts++
		}
	}
	if texts < 2 || r.Bound < 60 {
		t.Fatalf("%d hostile texts shown as text, %d bound values", texts, r.Bound)
	}
}

// TestServeRefusesWhatItDoesNotServe: other methods and views are refused
// with JSON errors; a catalog that fails is a 503 naming what failed.
func TestServeRefusesWhatItDoesNotServe(t *testing.T) {
	e := setup(t)
	for _, tc := range []struct {
		method, view string
		want         int
	}{
		{http.MethodPost, ViewPage, http.StatusMethodNotAllowed},
		{http.MethodGet, "other", http.StatusNotFound},
		{http.MethodHead, ViewData, http.StatusOK},
		{http.MethodGet, "/Data/", http.StatusOK},
	} {
		rec := httptest.NewRecorder()
		e.svc.Serve(rec, httptest.NewRequest(tc.method, "/api/dashboard", nil), tc.view)
		if rec.Code != tc.want {
			t.Errorf("%s %q: %d, want %d", tc.method, tc.view, rec.Code, tc.want)
		}
	}
	e.ok(e.db.Close())
	rec := httptest.NewRecorder()
	e.svc.Serve(rec, httptest.NewRequest(http.MethodGet, "/api/dashboard/data", nil), ViewData)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"code":"catalog_unavailable"`) {
		t.Fatalf("closed catalog: %d %s", rec.Code, rec.Body)
	}
}
