package hostsim_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/tests/hostsim"
)

// The whole job as the host runs it: EnqueueSegments over HTTP, every
// segment migrated by the queue trigger, verified by the timer on its
// schedule, counted by SegmentStatus; Files and PublishMessage answer.
func TestWholeJobThroughTheHost(t *testing.T) {
	a := newApp(t, nil)
	a.seedSmall()
	wholeJob(t, a)
}

// The same with the catalog on a real T-SQL engine (MSSQL_TEST_DSN, a
// throwaway database), opened by the handler after it is ready.
func TestWholeJobThroughTheHostOnTSQL(t *testing.T) {
	a := newApp(t, nil)
	a.settings["SQL_CONNECTION_STRING"] = mssqltest.Database(t)
	a.cli("demo", "seed", "--small", "--files-dir", filepath.Join(a.dir, ".offload", "models"))
	a.cli("schema", "apply")
	wholeJob(t, a)
}

// wholeJob runs the job through the host on a seeded app, with settings in
// forms the host accepts and the handler must too: a queue name in mixed
// case (the host lower-cases it) and a TimeSpan schedule.
func wholeJob(t *testing.T, a *app) {
	t.Helper()
	a.settings["SEGMENT_QUEUE"] = fmt.Sprintf("SegQ-Sim-Job-%d", a.n)
	a.settings["VERIFY_SCHEDULE"] = "00:00:02"
	h := a.mustStart(hostsim.Config{RunTimers: true})

	code, body := h.do(t, "POST", "/api/segments/enqueue", []byte(`{}`), false)
	if code != http.StatusOK {
		t.Fatalf("EnqueueSegments: %d %s", code, body)
	}
	var enq struct{ Queued int64 }
	if err := json.Unmarshal(body, &enq); err != nil || enq.Queued == 0 {
		t.Fatalf("EnqueueSegments: %s", body)
	}
	// The timer's invocation is recorded when it returns, which can be after
	// its verification is visible in the catalog: wait for both.
	eventually(t, time.Minute, "every segment migrated by the queue trigger and verified by the timer", func() bool {
		st, total := h.status(t)
		return total > 0 && st["verified"] == total && len(h.Invocations("VerifySegments")) > 0
	})
	for _, inv := range h.Invocations("MigrateSegment") {
		if !inv.Succeeded() {
			t.Errorf("MigrateSegment invocation failed: %s", inv)
		}
	}
	if n := len(h.Invocations("VerifySegments")); n == 0 {
		t.Fatal("the timer never fired")
	}

	// Files and PublishMessage, through the host's routing.
	content := base64.StdEncoding.EncodeToString([]byte("hello from T-SQL"))
	code, body = h.do(t, "POST", "/api/files/write", []byte(`{"path":"D:\\Models\\sim\\a.txt","contentBase64":"`+content+`"}`), false)
	if code != http.StatusOK {
		t.Fatalf("Files write: %d %s", code, body)
	}
	code, body = h.do(t, "POST", "/api/files/read", []byte(`{"path":"D:\\Models\\sim\\a.txt"}`), false)
	if code != http.StatusOK || !strings.Contains(string(body), content) {
		t.Fatalf("Files read: %d %s", code, body)
	}
	code, body = h.do(t, "POST", "/api/messages/"+a.settings["PUBLISH_QUEUES"], []byte(`{"event":"model.updated"}`), false)
	if code != http.StatusCreated {
		t.Fatalf("PublishMessage: %d %s", code, body)
	}
	if h.Restarts() != 0 {
		t.Fatalf("the worker was restarted %d times:\n%s", h.Restarts(), strings.Join(h.Events(), "\n"))
	}
}

// A message whose own top-level properties are named like the host's
// metadata (id, dequeueCount, insertionTime): the host merges them over
// its keys, and the invocation must still succeed.
func TestQueueMetadataCollision(t *testing.T) {
	a := newApp(t, nil)
	a.seedSmall()
	h := a.mustStart(hostsim.Config{})
	msg := `{"segmentId":1,"id":"mine","dequeueCount":"many","insertionTime":"yesterday","popReceipt":{"x":1}}`
	enqueueRaw(t, a.settings["SEGMENT_QUEUE"], []byte(msg))
	eventually(t, 30*time.Second, "the message handled", func() bool { return len(h.Invocations("MigrateSegment")) > 0 })
	if inv := h.Invocations("MigrateSegment")[0]; !inv.Succeeded() {
		t.Fatalf("the first delivery failed: %s\n%s", inv, inv.Body)
	}
	if st, _ := h.status(t); st["migrated"] != 1 {
		t.Fatalf("segment 1 not migrated: %v", st)
	}
}

// A message that cannot succeed is delivered maxDequeueCount times, then
// moved, text unchanged, to <queue>-poison.
func TestPoisonAfterMaxDequeueCount(t *testing.T) {
	a := newApp(t, map[string]any{"extensions.queues.maxDequeueCount": 2, "extensions.queues.visibilityTimeout": "00:00:00"})
	a.seedSmall()
	h := a.mustStart(hostsim.Config{})
	queue := a.settings["SEGMENT_QUEUE"]
	enqueueRaw(t, queue, []byte(`{"segmentId":999999}`))
	b, err := broker.New(config.Storage{ConnectionString: az.ConnectionString}, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var poisoned []broker.Message
	eventually(t, 30*time.Second, "the message in "+queue+"-poison", func() bool {
		poisoned, _ = b.Peek(context.Background(), queue+"-poison", 32)
		return len(poisoned) > 0
	})
	if len(poisoned) != 1 || string(poisoned[0].Body) != `{"segmentId":999999}` {
		t.Fatalf("poison queue holds %d message(s): %+v", len(poisoned), poisoned)
	}
	invs := h.Invocations("MigrateSegment")
	if len(invs) != 2 || invs[0].Succeeded() || invs[1].Succeeded() {
		t.Fatalf("want 2 failed deliveries, got %v", invs)
	}
	if left, _ := b.Peek(context.Background(), queue, 32); len(left) != 0 {
		t.Fatalf("%d message(s) left on %s", len(left), queue)
	}
}
