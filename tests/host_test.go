package tests

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// seedSmall seeds the world's embedded catalog with the small demo set and
// returns the ids of its segments.
func (w *world) seedSmall() []int64 {
	w.t.Helper()
	w.mustRun("schema", "apply")
	w.mustRun("demo", "seed", "--small", "--files-dir", w.dir+"/models")
	out := w.mustRun("segments", "status", "--json")
	var st struct {
		Total struct{ Segments int64 } `json:"total"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Total.Segments == 0 {
		w.t.Fatalf("status after seed: %v\n%s", err, out)
	}
	ids := make([]int64, st.Total.Segments)
	for i := range ids {
		ids[i] = int64(i + 1) // INTEGER PRIMARY KEY rows, inserted in order
	}
	return ids
}

type reply struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// The queue trigger exactly as the host sends it (REFERENCE §6): the message
// JSON-encoded a second time, DequeueCount as a string or a number, and the
// base64 form of dataType binary.
func TestQueueTriggerHostPayloads(t *testing.T) {
	w := newWorld(t)
	w.seedSmall()
	h := w.start()

	payloads := []string{
		`{"Data":{"msg":"\"{\\\"segmentId\\\":1}\""},"Metadata":{"DequeueCount":"1","Id":"\"0f6b3c5e-1\"","InsertionTime":"\"2026-11-26T10:00:00+00:00\"","sys":{"MethodName":"MigrateSegment","UtcNow":"2026-11-26T10:00:01Z","RandGuid":"0b1c"}}}`,
		`{"Data":{"msg":"\"{\\\"segmentId\\\":2}\""},"Metadata":{"DequeueCount":2,"Id":"\"0f6b3c5e-2\""}}`,
		`{"Data":{"msg":"` + base64.StdEncoding.EncodeToString([]byte(`{"segmentId":3}`)) + `"},"Metadata":{"DequeueCount":"1","Id":"\"0f6b3c5e-3\""}}`,
	}
	for i, p := range payloads {
		code, body := h.do(t, "POST", "/MigrateSegment", "application/json", []byte(p))
		if code != 200 {
			t.Fatalf("payload %d: status %d: %s", i, code, body)
		}
		var r reply
		if err := json.Unmarshal(body, &r); err != nil || r.Outputs == nil {
			t.Fatalf("payload %d: reply %s is not {Outputs,Logs,ReturnValue}: %v", i, body, err)
		}
	}
	// The same message again: a success that changes nothing.
	code, body := h.do(t, "POST", "/MigrateSegment", "application/json", []byte(payloads[0]))
	if code != 200 {
		t.Fatalf("redelivery: %d %s", code, body)
	}
	out := w.mustRun("segments", "status", "--json")
	var st struct {
		Totals map[string]struct{ Segments int64 } `json:"totals"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.Totals["migrated"].Segments != 3 {
		t.Fatalf("want 3 migrated segments, status: %s", out)
	}

	// Malformed messages and unknown ids: a non-2xx reply (the host retries,
	// then poisons) with the reason on stderr; the process keeps serving.
	for _, bad := range []string{
		`{"Data":{"msg":"\"{\\\"segmentId\\\":\\\"x\\\"}\""},"Metadata":{"DequeueCount":"1","Id":"\"bad-1\""}}`,
		`{"Data":{"msg":"\"{\\\"segmentId\\\":999999}\""},"Metadata":{"DequeueCount":"5","Id":"\"bad-2\""}}`,
		`{"Data":{"msg":"!!notbase64-and-not-json"},"Metadata":{"DequeueCount":"1"}}`,
		`{"Data":{}}`,
		`not json at all`,
	} {
		code, body := h.do(t, "POST", "/MigrateSegment", "application/json", []byte(bad))
		if code < 400 {
			t.Fatalf("malformed invocation %s answered %d %s", bad, code, body)
		}
	}
	// The handler logs before it answers; the log reaches the test through
	// the pipe from the process, so it is awaited, not slept for.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if e, err := h.Stderr.Await(ctx, func(e string) bool {
		return strings.Contains(e, "999999") && strings.Contains(e, "malformed")
	}); err != nil {
		t.Fatalf("failures must be logged on stderr with their reason (%v); stderr:\n%s", err, e)
	}
	if code, _ := h.do(t, "GET", "/", "", nil); code != 200 {
		t.Fatalf("handler stopped serving after bad input: %d", code)
	}
}

// The timer trigger envelope, IsPastDue true, runs one verification pass
// over the segments and the linked atoms of every modality.
func TestTimerTriggerVerifies(t *testing.T) {
	w := newWorld(t)
	w.seedSmall()
	w.mustRun("segments", "enqueue")
	w.mustRun("segments", "migrate", "--workers", "2")
	w.mustRun("atoms", "upload")
	w.mustRun("atoms", "link")
	h := w.start()
	env := `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":true}},"Metadata":{"sys":{"MethodName":"VerifySegments","UtcNow":"2026-11-26T10:10:00Z","RandGuid":"9a0e"}}}`
	code, body := h.do(t, "POST", "/VerifySegments", "application/json", []byte(env))
	if code != 200 {
		t.Fatalf("timer: %d %s", code, body)
	}
	out := w.mustRun("segments", "status", "--json")
	var st struct {
		Totals map[string]struct{ Segments int64 } `json:"totals"`
		Total  struct{ Segments int64 }            `json:"total"`
		Atoms  struct {
			ByModality map[string]struct{ Linked, Verified int64 } `json:"byModality"`
		} `json:"atoms"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.Totals["verified"].Segments != st.Total.Segments {
		t.Fatalf("after the timer every segment should be verified: %s", out)
	}
	for _, m := range []string{"model", "image", "audio"} {
		if c := st.Atoms.ByModality[m]; c.Linked == 0 || c.Verified != c.Linked {
			t.Errorf("after the timer every linked %s atom should be verified: %+v", m, c)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := h.Stdout.Await(ctx, func(out string) bool { return strings.Contains(out, "past due") }); err != nil {
		t.Fatalf("IsPastDue must be logged (%v)", err)
	}
}

// HTTP functions arrive as the original request under /api/.
func TestHTTPFunctions(t *testing.T) {
	w := newWorld(t)
	w.seedSmall()
	h := w.start()
	key := []string{"x-functions-key", "test-key"}

	code, body := h.do(t, "POST", "/api/segments/enqueue", "application/json", []byte(`{"dryRun":true}`), key...)
	if code != 200 {
		t.Fatalf("enqueue dry run: %d %s", code, body)
	}
	var plan struct {
		DryRun     bool  `json:"dryRun"`
		Segments   int64 `json:"segments"`
		Queued     int64 `json:"queued"`
		TotalBytes int64 `json:"totalBytes"`
		Cost       []struct {
			Tier string  `json:"tier"`
			USD  float64 `json:"usd"`
		} `json:"estimatedMonthlyCostUsd"`
	}
	if err := json.Unmarshal(body, &plan); err != nil || !plan.DryRun || plan.Segments == 0 || plan.Queued != 0 || len(plan.Cost) < 3 {
		t.Fatalf("dry run answer %s (%v)", body, err)
	}
	code, body = h.do(t, "POST", "/api/segments/enqueue", "application/json", []byte(`{"limit":2}`), key...)
	if code != 200 || !strings.Contains(string(body), `"queued":2`) {
		t.Fatalf("enqueue limit 2: %d %s", code, body)
	}
	code, body = h.do(t, "POST", "/api/segments/enqueue", "application/json", []byte(`{"limit":-1}`), key...)
	if code != 400 || !strings.Contains(string(body), `"code"`) {
		t.Fatalf("negative limit: %d %s", code, body)
	}
	code, body = h.do(t, "GET", "/api/segments/status", "", nil, key...)
	if code != 200 || !strings.Contains(string(body), `"queued"`) {
		t.Fatalf("status: %d %s", code, body)
	}
	code, body = h.do(t, "POST", "/api/segments/release", "application/json", []byte(`{}`), key...)
	if code != 200 || !strings.Contains(string(body), `"dryRun":true`) {
		t.Fatalf("release defaults to a dry run: %d %s", code, body)
	}
	code, _ = h.do(t, "GET", "/api/no/such/route", "", nil)
	if code != 404 {
		t.Fatalf("unknown route: %d", code)
	}
	if err := h.Stop(t, 15*time.Second); err != nil {
		t.Fatalf("SIGTERM: exit %v", err)
	}
}
