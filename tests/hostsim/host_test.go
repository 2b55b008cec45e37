package hostsim_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/sqlite"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/segments"
	"github.com/hartonomous/offload/tests/faultproxy"
	"github.com/hartonomous/offload/tests/hostsim"
	"github.com/hartonomous/offload/tests/testenv"
)

// readyAfter is how long the first worker took to answer GET /, from the
// host's log.
var readyRE = regexp.MustCompile(`GET / answered \d+ after ([0-9.]+[a-zµ]+)`)

func readyAfter(t *testing.T, h *host) time.Duration {
	t.Helper()
	for _, e := range h.Events() {
		if m := readyRE.FindStringSubmatch(e); m != nil {
			d, err := time.ParseDuration(m[1])
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Fatalf("no readiness in the host's log:\n%s", strings.Join(h.Events(), "\n"))
	return 0
}

// A catalog and a storage account that accept connections and never
// answer (a paused serverless Azure SQL): the worker is ready at once, an
// invocation that needs them fails within its deadline with a reason that
// names what does not answer (never a secret), and the worker stays up;
// once storage answers, the work gets done.
func TestReadyWhateverCatalogAndStorageDo(t *testing.T) {
	t.Parallel() // mostly waiting: for deadlines, a slow proxy, claims
	const password = "Pa55w0rd-never-logged"
	t.Run("catalog", func(t *testing.T) {
		a := newApp(t, map[string]any{"functionTimeout": "00:00:06"})
		sql := newGate(t, "") // never opens
		a.settings["SQL_CONNECTION_STRING"] = fmt.Sprintf("sqlserver://sa:%s@127.0.0.1:%d?database=Hartonomous", password, sql.port())
		h := a.mustStart(hostsim.Config{ReadyTimeout: 10 * time.Second, NoQueues: true})
		if d := readyAfter(t, h); d > time.Second {
			t.Fatalf("ready after %s, want within a second of exec", d)
		}
		start := time.Now()
		code, body := h.do(t, "GET", "/api/segments/status", nil, false)
		took := time.Since(start)
		if code != http.StatusServiceUnavailable || !strings.Contains(string(body), config.SettingSQL) || strings.Contains(string(body), password) {
			t.Fatalf("SegmentStatus with a silent catalog: %d %s", code, body)
		}
		if took > 6*time.Second {
			t.Fatalf("answered after %s, past functionTimeout", took)
		}
		inv := h.FireTimer(context.Background(), "VerifySegments", false)
		if inv.Succeeded() || inv.TimedOut || !strings.Contains(string(inv.Body), config.SettingSQL) {
			t.Fatalf("VerifySegments with a silent catalog: %s %s", inv, inv.Body)
		}
		// Files needs no catalog.
		code, body = h.do(t, "POST", "/api/files/exists", []byte(`{"path":"D:\\Models\\none.bin"}`), false)
		if code != http.StatusOK {
			t.Fatalf("Files with a silent catalog: %d %s", code, body)
		}
		if h.Restarts() != 0 {
			t.Fatalf("worker restarted %d times", h.Restarts())
		}
		if out := h.stdout.String() + h.stderr.String(); strings.Contains(out, password) {
			t.Fatal("the SQL password reached the worker's output")
		}
	})
	t.Run("storage", func(t *testing.T) {
		a := newApp(t, map[string]any{"functionTimeout": "00:00:05"})
		a.seedSmall()
		blob := newGate(t, fmt.Sprintf("127.0.0.1:%d", az.BlobPort))
		queue := newGate(t, fmt.Sprintf("127.0.0.1:%d", az.QueuePort))
		a.settings["AzureWebJobsStorage"] = config.DevConnectionString("127.0.0.1", blob.port(), queue.port())
		h := a.mustStart(hostsim.Config{ReadyTimeout: 10 * time.Second, NoQueues: true})
		if d := readyAfter(t, h); d > time.Second {
			t.Fatalf("ready after %s, want within a second of exec", d)
		}
		start := time.Now()
		code, body := h.do(t, "POST", "/api/files/exists", []byte(`{"path":"D:\\Models\\a.bin"}`), false)
		if code < 500 || !strings.Contains(string(body), config.SettingStorage) || strings.Contains(string(body), config.DevAccountKey) {
			t.Fatalf("Files with silent storage: %d %s", code, body)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("answered after %s, past functionTimeout", took)
		}
		if h.Restarts() != 0 {
			t.Fatalf("worker restarted %d times", h.Restarts())
		}
		blob.Open()
		queue.Open()
		code, body = h.do(t, "POST", "/api/files/write", []byte(`{"path":"D:\\Models\\a.bin","text":"now it answers"}`), false)
		if code != http.StatusOK {
			t.Fatalf("Files once storage answers: %d %s", code, body)
		}
		code, body = h.do(t, "POST", "/api/segments/enqueue", []byte(`{"limit":1}`), false)
		if code != http.StatusOK || !strings.Contains(string(body), `"queued":1`) {
			t.Fatalf("EnqueueSegments once storage answers: %d %s", code, body)
		}
	})
}

// bigSegment adds one segment of size bytes to the app's catalog and
// returns its id and SHA-256.
func bigSegment(t *testing.T, a *app, size int64) (int64, string) {
	t.Helper()
	return testenv.AddSegment(t, strings.TrimPrefix(a.settings["SQL_CONNECTION_STRING"], "sqlite:"), "timeout-test", 3, size)
}

func segmentRow(t *testing.T, a *app, id int64) catalog.Segment {
	t.Helper()
	cat, err := sqlite.Open(context.Background(), strings.TrimPrefix(a.settings["SQL_CONNECTION_STRING"], "sqlite:"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	seg, err := cat.GetSegment(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return seg
}

// reusedRE finds the blocks a successful migration did not send again.
var reusedRE = regexp.MustCompile(`"msg":"segment migrated".*"blocksReused":([0-9]+)`)

func blocksReused(h *host) int {
	n := 0
	for _, m := range reusedRE.FindAllStringSubmatch(h.stdout.String(), -1) {
		v, _ := strconv.Atoi(m[1])
		n = max(n, v)
	}
	return n
}

// finished waits for the segment to be migrated with the source's hash and
// no claim left, and checks the blob's bytes against the source's SHA-256
// itself (the timer's verification has suites of its own; under these
// hosts' tiny functionTimeout a full read-back may not fit in one run).
func finished(t *testing.T, a *app, id int64, sum string) {
	t.Helper()
	eventually(t, 5*time.Minute, fmt.Sprintf("segment %d migrated", id), func() bool {
		return segmentRow(t, a, id).Sha256 != ""
	})
	seg := segmentRow(t, a, id)
	if seg.Sha256 != sum || seg.BlobSizeBytes == 0 {
		t.Fatalf("segment %d records sha256 %s (size %d), the payload is %s", id, seg.Sha256, seg.BlobSizeBytes, sum)
	}
	if seg.ClaimedUntil.After(time.Now()) {
		t.Fatalf("a live claim is left on segment %d", id)
	}
	blob := getBlob(t, a.settings["TENSORS_CONTAINER"], segments.BlobName(seg))
	if got := sha256.Sum256(blob); hex.EncodeToString(got[:]) != sum || int64(len(blob)) != seg.BlobSizeBytes {
		t.Fatalf("segment %d's blob is %d bytes sha256 %x, the payload is %s", id, len(blob), got, sum)
	}
}

// slowSegment starts the host on an app with host.json's functionTimeout
// and visibilityTimeout as given (maxDequeueCount 10), one 32 MiB segment
// (8 blocks of 4 MiB) whose message is queued, and blob storage that
// stages 3 blocks per attempt (slowBlobs; staged receives after each).
func slowSegment(t *testing.T, functionTimeout, visibility string) (a *app, h *host, id int64, sum string, staged <-chan struct{}) {
	t.Helper()
	a = newApp(t, map[string]any{
		"functionTimeout":                     functionTimeout,
		"extensions.queues.visibilityTimeout": visibility,
		"extensions.queues.maxDequeueCount":   10,
	})
	a.cli("schema", "apply")
	id, sum = bigSegment(t, a, 32<<20)
	blobs, staged := slowBlobs(t, 3)
	a.settings["AzureWebJobsStorage"] = faultproxy.DevConnectionString(blobs, fmt.Sprintf("http://127.0.0.1:%d", az.QueuePort))
	h = a.mustStart(hostsim.Config{})
	enqueueRaw(t, a.settings["SEGMENT_QUEUE"], []byte(fmt.Sprintf(`{"segmentId":%d}`, id)))
	return a, h, id, sum, staged
}

// A segment too big to migrate within one invocation, under a tiny
// functionTimeout: each attempt stops at its own deadline (recording its
// failure and dropping its claim) before the host would kill the worker,
// and keeps what it staged, so a later attempt finishes it; nothing is
// lost.
func TestInvocationPastFunctionTimeout(t *testing.T) {
	t.Parallel() // mostly waiting: for deadlines, a slow proxy, claims
	a, h, id, sum, _ := slowSegment(t, "00:00:04", "00:00:01")
	finished(t, a, id, sum)
	invs := h.Invocations("MigrateSegment")
	if len(invs) < 2 {
		t.Fatalf("%d invocation(s): the segment should not fit in one", len(invs))
	}
	if blocksReused(h) == 0 {
		t.Fatal("no staged block was reused by a later attempt")
	}
	for _, inv := range invs {
		if inv.TimedOut {
			t.Errorf("an invocation ran past functionTimeout: %s", inv)
		}
	}
	t.Logf("%d deliveries, %d blocks reused, %d restarts", len(invs), blocksReused(h), h.Restarts())
}

// The worker killed mid-migration (the host restarts it, ending every
// invocation in flight, when any invocation passes functionTimeout): it
// comes back, the message is delivered again, the dead worker's claim
// runs out, and the segment finishes from the blocks already staged.
func TestWorkerKilledMidMigration(t *testing.T) {
	t.Parallel() // mostly waiting: for deadlines, a slow proxy, claims
	a, h, id, sum, staged := slowSegment(t, "00:00:10", "00:00:03")
	for i := range 3 { // a few blocks staged
		select {
		case <-staged:
		case <-time.After(time.Minute):
			t.Fatalf("%d of 3 blocks staged after a minute", i)
		}
	}
	if err := h.RestartWorker("another invocation passed functionTimeout"); err != nil {
		t.Fatal(err)
	}
	finished(t, a, id, sum)
	if h.Restarts() < 1 {
		t.Fatal("the worker was not restarted")
	}
	if blocksReused(h) == 0 {
		t.Fatal("no staged block was reused after the kill")
	}
}

// A trigger setting missing from the app settings: the host does not index
// the function ("'%SEGMENT_QUEUE%' does not resolve to a value"), and the
// handler says so in one line, first, and exits 3, before doing anything
// else; the host restarts it and stops the app after 3 failures.
func TestUnresolvedTriggerSetting(t *testing.T) {
	a := newApp(t, nil)
	delete(a.settings, "SEGMENT_QUEUE")
	h, err := a.start(hostsim.Config{})
	if err == nil || h == nil {
		t.Fatalf("the app should stop: %v", err)
	}
	if why := h.NotIndexed()["MigrateSegment"]; !strings.Contains(why, "'%SEGMENT_QUEUE%' does not resolve to a value") {
		t.Fatalf("MigrateSegment indexed anyway (%q); indexed: %v", why, h.Indexed())
	}
	if h.Restarts() != hostsim.ErrorThreshold-1 {
		t.Fatalf("%d restarts, want %d before the app stops", h.Restarts(), hostsim.ErrorThreshold-1)
	}
	// Each start said it in one line, first, and nothing else.
	lines := strings.Split(strings.TrimSpace(h.stderr.String()), "\n")
	if len(lines) != hostsim.ErrorThreshold {
		t.Fatalf("want one line per start, got:\n%s", h.stderr)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "offload: setting: SEGMENT_QUEUE is not set") || !strings.Contains(l, "MigrateSegment") {
			t.Fatalf("want one line naming SEGMENT_QUEUE and its function, got:\n%s", h.stderr)
		}
	}
	if h.stdout.String() != "" {
		t.Fatalf("the worker did something before saying so:\n%s", h.stdout)
	}
}

// Routes as the host's ASP.NET routing matches them, and bodies as it
// forwards them: literals in any case, a trailing slash, {op} as typed; a
// chunked body arrives empty, so a write gets 411, not a silent no-op.
// The schedule here is 5-field NCRONTAB, which the timer takes too.
func TestRoutesAndBodiesAsTheHostForwardsThem(t *testing.T) {
	a := newApp(t, nil)
	a.cli("schema", "apply")
	a.settings["VERIFY_SCHEDULE"] = "*/5 * * * *"
	h := a.mustStart(hostsim.Config{NoQueues: true})
	body := []byte(`{"path":"D:\\Models\\routes.bin"}`)
	for _, p := range []string{"/api/files/exists", "/api/Files/exists", "/api/files/exists/", "/api/files/Exists", "/API/FILES/EXISTS/"} {
		code, b := h.do(t, "POST", p, body, false)
		if code != http.StatusOK || !strings.Contains(string(b), `"exists":false`) {
			t.Errorf("POST %s: %d %s", p, code, b)
		}
	}
	for _, p := range []string{"/api/segments/status/", "/api/Segments/Status"} {
		if code, b := h.do(t, "GET", p, nil, false); code != http.StatusOK {
			t.Errorf("GET %s: %d %s", p, code, b)
		}
	}
	code, b := h.do(t, "POST", "/api/files/write", []byte(`{"path":"D:\\Models\\chunked.bin","text":"lost on the way"}`), true)
	if code != http.StatusLengthRequired || !strings.Contains(string(b), "Content-Length") {
		t.Fatalf("chunked write through the host: %d %s", code, b)
	}
	code, b = h.do(t, "POST", "/api/files/exists", []byte(`{"path":"D:\\Models\\chunked.bin"}`), false)
	if code != http.StatusOK || !strings.Contains(string(b), `"exists":false`) {
		t.Fatalf("the refused write wrote something: %d %s", code, b)
	}
}

// A worker that exits with code 0 is not restarted (WorkerProcess's
// SuccessExitCode): the app stops serving.
func TestWorkerExitZeroNotRestarted(t *testing.T) {
	a := newApp(t, nil)
	stub := filepath.Join(t.TempDir(), "exits-zero")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	h, err := a.start(hostsim.Config{Bin: stub})
	if err == nil || !strings.Contains(err.Error(), "code 0") {
		t.Fatalf("want the app stopped by a 0 exit: %v", err)
	}
	if h.Restarts() != 0 {
		t.Fatalf("a worker that exited 0 was restarted %d times", h.Restarts())
	}
}
