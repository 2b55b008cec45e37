package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
	"github.com/hartonomous/offload/internal/config"
)

// The whole job with the catalog on a real T-SQL engine (MSSQL_TEST_DSN, in
// a throwaway database): the demo creates the Hartonomous tables, the schema
// applies twice with nothing left to do the second time, the queue trigger
// migrates every segment through the handler, the timer verifies them,
// model files are uploaded and linked, the sources are released and the
// schema finalized; a second demo seed refuses.
func TestWholeJobOnTSQL(t *testing.T) {
	dsn := mssqltest.Database(t)
	w := newWorld(t)
	w.env["SQL_CONNECTION_STRING"] = dsn

	w.mustRun("demo", "seed", "--small", "--files-dir", w.dir+"/models")
	if out := w.mustRun("schema", "apply"); !strings.Contains(out, "applied 0 statement(s)") {
		t.Fatalf("schema apply after the seed's own apply changed something:\n%s", out)
	}
	if out := w.mustRun("schema", "apply"); !strings.Contains(out, "applied 0 statement(s)") {
		t.Fatalf("second schema apply changed something:\n%s", out)
	}
	total := w.status().Total.Segments
	if total == 0 {
		t.Fatal("demo seeded no segments")
	}

	h := w.start()
	code, body := h.do(t, "POST", "/api/segments/enqueue", "application/json", []byte(`{}`))
	if code != 200 {
		t.Fatalf("enqueue: %d %s", code, body)
	}

	// The host's side of the queue trigger: receive each message and post
	// it to /MigrateSegment in the host's envelope.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	q, err := broker.New(config.Storage{ConnectionString: az.ConnectionString}, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	posted := int64(0)
	for posted < total {
		msgs, err := q.Receive(ctx, w.env["SEGMENT_QUEUE"], 16, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			t.Fatalf("queue ran dry after %d of %d messages", posted, total)
		}
		for _, m := range msgs {
			msg, _ := json.Marshal(string(m.Body))
			dataMsg, _ := json.Marshal(string(msg))
			env := fmt.Sprintf(`{"Data":{"msg":%s},"Metadata":{"DequeueCount":"%d","Id":"\"%s\""}}`, dataMsg, m.DequeueCount, m.ID)
			if code, body := h.do(t, "POST", "/MigrateSegment", "application/json", []byte(env)); code != 200 {
				t.Fatalf("MigrateSegment %s: %d %s\nstderr:\n%s", m.Body, code, body, h.Stderr.String())
			}
			if err := q.Complete(ctx, m); err != nil {
				t.Fatal(err)
			}
			posted++
		}
	}
	if st := w.status(); st.Totals["migrated"].Segments != total {
		t.Fatalf("after the queue: %+v, want %d migrated", st.Totals, total)
	}

	timer := `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"VerifySegments","UtcNow":"2026-12-01T10:10:00Z","RandGuid":"9a0e"}}}`
	if code, body := h.do(t, "POST", "/VerifySegments", "application/json", []byte(timer)); code != 200 {
		t.Fatalf("VerifySegments: %d %s", code, body)
	}
	if st := w.status(); st.Totals["verified"].Segments != total {
		t.Fatalf("after the timer: %+v, want %d verified", st.Totals, total)
	}
	if code, body := h.do(t, "GET", "/api/segments/status", "", nil); code != 200 || !strings.Contains(string(body), `"verified"`) {
		t.Fatalf("SegmentStatus: %d %s", code, body)
	}

	w.mustRun("models", "upload", "--from-catalog")
	w.mustRun("models", "link")
	w.mustRun("models", "verify")

	if _, _, code := w.run("schema", "finalize"); code == 0 {
		t.Fatal("finalize ran while no segment was released")
	}
	w.mustRun("segments", "release", "--confirm")
	if st := w.status(); st.Totals["released"].Segments != total {
		t.Fatalf("after release: %+v, want %d released", st.Totals, total)
	}
	w.mustRun("schema", "finalize")
	w.mustRun("schema", "finalize") // idempotent
	if out := w.mustRun("schema", "apply"); !strings.Contains(out, "applied 0 statement(s)") {
		t.Fatalf("schema apply after finalize changed something:\n%s", out)
	}
	// After finalize the blobs alone are the data: a full verification
	// still passes.
	w.mustRun("segments", "verify", "--cheap-every", "1ms", "--sample", "1000")
	if st := w.status(); st.Totals["released"].Segments != total {
		t.Fatalf("after finalize and verify: %+v, want %d released", st.Totals, total)
	}

	if out, errs, code := w.run("demo", "seed", "--small", "--files-dir", w.dir+"/models2"); code == 0 || !strings.Contains(out+errs, "already holds rows") {
		t.Fatalf("a second demo seed must refuse: exit %d\n%s%s", code, out, errs)
	}
}

// statusJSON is what `segments status --json` prints.
type statusJSON struct {
	Totals map[string]struct{ Segments int64 } `json:"totals"`
	Total  struct{ Segments int64 }            `json:"total"`
}

func (w *world) status() statusJSON {
	w.t.Helper()
	out := w.mustRun("segments", "status", "--json")
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		w.t.Fatalf("status: %v\n%s", err, out)
	}
	return st
}
