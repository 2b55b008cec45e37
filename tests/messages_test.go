package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/offload/inbox"
	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/sqlite"
	"github.com/hartonomous/offload/internal/config"
)

// publishTo writes messages to the world's outbox as a caller's
// transaction would (the embedded catalog has no procedures: this is
// dbo.usp_PublishMessage's Go twin), and commits.
func (w *world) publishTo(queue, conv string, msgs ...string) {
	w.t.Helper()
	ctx := context.Background()
	cat, err := sqlite.Open(ctx, filepath.Join(w.dir, "catalog.db"), sqlite.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	defer cat.Close()
	tx, err := cat.BeginPublish(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, m := range msgs {
		if _, err := tx.Publish(ctx, catalog.OutboxMessage{Queue: queue, ConversationID: conv, Message: m}); err != nil {
			tx.Rollback()
			w.t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		w.t.Fatal(err)
	}
}

// queueEvents takes every message off queue.
func (w *world) queueEvents(queue string) []inbox.Event {
	w.t.Helper()
	ctx := context.Background()
	b, err := broker.New(config.Storage{ConnectionString: az.ConnectionString}, broker.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	var out []inbox.Event
	for {
		msgs, err := b.Receive(ctx, queue, 32, time.Minute)
		if err != nil {
			w.t.Fatal(err)
		}
		if len(msgs) == 0 {
			return out
		}
		for _, m := range msgs {
			e, err := inbox.ParseEvent(m.Body)
			if err != nil {
				w.t.Fatal(err)
			}
			out = append(out, e)
			if err := b.Complete(ctx, m); err != nil {
				w.t.Fatal(err)
			}
		}
	}
}

func ce(id string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/hartonomous/dbo/Atoms","type":"hartonomous.atom.updated","data":{}}`, id)
}

// TestMessagesCommands: offload messages drain|status with the real binary.
func TestMessagesCommands(t *testing.T) {
	w := newWorld(t)
	queue := w.env["PUBLISH_QUEUES"]
	for _, args := range [][]string{{"messages", "drain", "--help"}, {"messages", "status", "--help"}} {
		if out, errs, code := w.run(args...); code != 0 || !strings.Contains(out, "Usage: offload") {
			t.Errorf("offload %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
	}
	w.mustRun("schema", "apply")
	w.publishTo(queue, "atom:1", ce("e1"), ce("e2"), ce("e3"))
	w.publishTo("not-published", "", ce("x"))

	out := w.mustRun("messages", "drain", "--dry-run")
	if !regexpMatch(`would send\s+3`, out) {
		t.Fatalf("dry run: %s", out)
	}
	if !strings.Contains(out, `queue "not-published" is not in PUBLISH_QUEUES`) {
		t.Fatalf("dry run does not name the failure: %s", out)
	}
	var st struct {
		Pending int64 `json:"pending"`
		Sent    int64 `json:"sent"`
		Failed  int64 `json:"failed"`
	}
	if err := json.Unmarshal([]byte(w.mustRun("messages", "status", "--json")), &st); err != nil || st.Pending != 4 {
		t.Fatalf("status after the dry run: %+v, %v", st, err)
	}

	out, errs, code := w.run("messages", "drain")
	if code != 1 || !regexpMatch(`sent\s+3`, out) || !strings.Contains(errs, "not in PUBLISH_QUEUES") {
		t.Fatalf("drain: exit %d, want 1 (a message failed)\n%s%s", code, out, errs)
	}
	if err := json.Unmarshal([]byte(w.mustRun("messages", "status", "--json")), &st); err != nil || st.Sent != 3 || st.Failed != 1 || st.Pending != 0 {
		t.Fatalf("status after the drain: %+v, %v", st, err)
	}
	// The failed message is not tried again: the next drain succeeds.
	w.mustRun("messages", "drain")
	got := w.queueEvents(queue)
	if len(got) != 3 {
		t.Fatalf("%d messages on %s, want 3", len(got), queue)
	}
	for i, e := range got {
		if e.ID != fmt.Sprintf("e%d", i+1) || e.Sequence != int64(i+1) || e.Conversation != "atom:1" {
			t.Fatalf("message %d: %+v", i, e)
		}
	}
	// segments status --json carries the outbox too.
	var seg struct {
		Outbox *struct {
			Sent, Failed int64
		} `json:"outbox"`
	}
	if err := json.Unmarshal([]byte(w.mustRun("segments", "status", "--json")), &seg); err != nil || seg.Outbox == nil || seg.Outbox.Sent != 3 || seg.Outbox.Failed != 1 {
		t.Fatalf("segments status: %+v, %v", seg.Outbox, err)
	}
	if out := w.mustRun("messages", "status"); !strings.Contains(out, "no message is waiting") {
		t.Fatalf("messages status: %s", out)
	}
}

// TestDrainFunctions: the kick (POST api/messages/drain), the timer
// (POST /DrainOutbox) and the outbox object of GET api/segments/status, as
// the Functions host reaches them.
func TestDrainFunctions(t *testing.T) {
	w := newWorld(t)
	queue := w.env["PUBLISH_QUEUES"]
	w.mustRun("schema", "apply")
	h := w.start()
	key := []string{"x-functions-key", "test-key"}

	w.publishTo(queue, "c", ce("k1"))
	code, body := h.do(t, "POST", "/api/messages/drain", "", nil, key...)
	if code != 200 || !strings.Contains(string(body), `"sent":1`) {
		t.Fatalf("kick: %d %s", code, body)
	}
	// The literal route wins over messages/{queue} in any case.
	w.publishTo(queue, "c", ce("k2"))
	code, body = h.do(t, "POST", "/api/messages/DRAIN", "application/json", []byte(`{"budgetSeconds":5}`), key...)
	if code != 200 || !strings.Contains(string(body), `"sent":1`) {
		t.Fatalf("kick in upper case: %d %s", code, body)
	}
	code, body = h.do(t, "POST", "/api/messages/drain", "application/json", []byte(`{"budgetSeconds":-1}`), key...)
	if code != 400 {
		t.Fatalf("bad budget: %d %s", code, body)
	}

	w.publishTo(queue, "c", ce("t1"))
	timer := `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"DrainOutbox","UtcNow":"2026-11-26T10:10:00Z","RandGuid":"9a0e"}}}`
	code, body = h.do(t, "POST", "/DrainOutbox", "application/json", []byte(timer))
	if code != 200 {
		t.Fatalf("timer: %d %s", code, body)
	}
	code, body = h.do(t, "GET", "/api/segments/status", "", nil, key...)
	if code != 200 || !strings.Contains(string(body), `"outbox":{"pending":0,"sent":3,"failed":0`) {
		t.Fatalf("status: %d %s", code, body)
	}
	var ids []string
	for _, e := range w.queueEvents(queue) {
		ids = append(ids, fmt.Sprintf("%s@%d", e.ID, e.Sequence))
	}
	if strings.Join(ids, " ") != "k1@1 k2@2 t1@3" {
		t.Fatalf("queue holds %v", ids)
	}
	if err := h.Stop(t, 15*time.Second); err != nil {
		t.Fatalf("SIGTERM: exit %v", err)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }
