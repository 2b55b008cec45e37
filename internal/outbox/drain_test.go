package outbox_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/hartonomous/offload/inbox"
	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/outbox"
)

func TestRolledBackPublishSendsNothing(t *testing.T) { testRolledBackPublishSendsNothing(t, embedded) }
func TestRolledBackPublishSendsNothingOnTSQL(t *testing.T) {
	testRolledBackPublishSendsNothing(t, onServer)
}

func testRolledBackPublishSendsNothing(t *testing.T, o opener) {
	e := setup(t, o)
	tx, err := e.cat.BeginPublish(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Publish(e.ctx, catalog.OutboxMessage{Queue: e.queue, Message: cloudEvent("rolled-back", 1)}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if res := e.drain(); res.Sent != 0 || res.Failed != 0 {
		t.Fatalf("drain after a rollback: %+v", res)
	}
	if err := e.broker.Ensure(e.ctx, e.queue); err != nil {
		t.Fatal(err)
	}
	if got := e.received(); len(got) != 0 {
		t.Fatalf("a rolled-back publish reached the queue: %+v", got)
	}
	if st := e.status(); st.Pending+st.Sent+st.Failed != 0 {
		t.Fatalf("status %+v", st)
	}
}

func TestCommittedPublishesArriveOnceInOrder(t *testing.T) {
	testCommittedPublishesArriveOnceInOrder(t, embedded)
}
func TestCommittedPublishesArriveOnceInOrderOnTSQL(t *testing.T) {
	testCommittedPublishesArriveOnceInOrder(t, onServer)
}

func testCommittedPublishesArriveOnceInOrder(t *testing.T, o opener) {
	e := setup(t, o)
	var ids []string
	for i := 1; i <= 3; i++ { // three transactions
		ids = append(ids, e.publish(e.queue, "atom:42", cloudEvent(fmt.Sprintf("ev-%d", i), i))...)
	}
	plain := `{"atomId": 7, "op": "delete"}`
	e.publish(e.queue, "", plain)
	if res := e.drain(); res.Sent != 4 {
		t.Fatalf("drain: %+v", res)
	}
	if res := e.drain(); res.Sent != 0 {
		t.Fatalf("a second drain sent %d more", res.Sent)
	}
	got := e.received()
	if len(got) != 4 {
		t.Fatalf("%d messages arrived, want 4", len(got))
	}
	var conv []inbox.Event
	for _, ev := range got {
		if ev.Conversation == "atom:42" {
			conv = append(conv, ev)
		} else if string(ev.Body) != plain {
			t.Fatalf("a plain JSON document was changed: %s", ev.Body)
		}
	}
	for i, ev := range conv {
		if ev.ID != ids[i] || ev.Sequence != int64(i+1) {
			t.Fatalf("message %d: id %q sequence %d, want %q %d", i, ev.ID, ev.Sequence, ids[i], i+1)
		}
		if !strings.Contains(string(ev.Body), `"sequence":"0000000000000000000`) {
			t.Fatalf("sequence not zero-padded: %s", ev.Body)
		}
	}
	if st := e.status(); st.Sent != 4 || st.Pending != 0 || st.Queues[e.queue].Sent != 4 {
		t.Fatalf("status %+v", st)
	}
}

func TestQueueOutsidePublishQueuesFailsOnce(t *testing.T) {
	testQueueOutsidePublishQueuesFailsOnce(t, embedded)
}
func TestQueueOutsidePublishQueuesFailsOnceOnTSQL(t *testing.T) {
	testQueueOutsidePublishQueuesFailsOnce(t, onServer)
}

func testQueueOutsidePublishQueuesFailsOnce(t *testing.T, o opener) {
	e := setup(t, o)
	e.publish("not-allowed", "c", cloudEvent("x", 1))
	e.publish(e.queue, "c", cloudEvent("ok", 2))
	res := e.drain()
	if res.Failed != 1 || res.Sent != 1 || len(res.Failures) != 1 ||
		!strings.Contains(res.Failures[0], `queue "not-allowed" is not in PUBLISH_QUEUES`) {
		t.Fatalf("drain: %+v", res)
	}
	e.clock.Add(time.Hour)
	if res := e.drain(); res.Failed != 0 || res.Sent != 0 || res.Passes != 1 {
		t.Fatalf("the failed row was tried again: %+v", res)
	}
	st := e.status()
	if st.Failed != 1 || st.Queues["not-allowed"].Failed != 1 || st.Pending != 0 {
		t.Fatalf("status %+v", st)
	}
	// The allowed queue's conversation went on past the failed row: it got
	// sequence 1, a failed row takes none.
	got := e.received()
	if len(got) != 1 || got[0].Sequence != 1 {
		t.Fatalf("received %+v", got)
	}
}

func TestTooLargeAndNotJSONFail(t *testing.T)       { testTooLargeAndNotJSONFail(t, embedded) }
func TestTooLargeAndNotJSONFailOnTSQL(t *testing.T) { testTooLargeAndNotJSONFail(t, onServer) }

func testTooLargeAndNotJSONFail(t *testing.T, o opener) {
	e := setup(t, o)
	big := `{"specversion":"1.0","data":"` + strings.Repeat("x", outbox.MaxBodyBytes-40) + `"}`
	e.publish(e.queue, "c", big)
	// A row written by hand, past the procedure's checks.
	bad := int64(1)
	if db, ok := e.cat.(interface{ SQL() *sql.DB }); ok && o.name == "sqlite" {
		if _, err := db.SQL().ExecContext(e.ctx, `INSERT INTO OffloadOutbox (QueueName, ConversationId, MessageId, Message, CreatedAt)
VALUES (?, 'c', 'by-hand', 'not json', '2025-06-01T12:00:00.000000Z')`, e.queue); err != nil {
			t.Fatal(err)
		}
		bad = 2
	}
	e.publish(e.queue, "c", cloudEvent("fits", 1))
	res := e.drain()
	if res.Failed != bad || res.Sent != 1 || !strings.Contains(res.Failures[0], "a queue message holds 65536") ||
		(bad == 2 && !strings.Contains(res.Failures[1], "not a JSON document")) {
		t.Fatalf("drain: %+v", res)
	}
	if got := e.received(); len(got) != 1 || got[0].ID != "fits" || got[0].Sequence != 1 {
		t.Fatalf("received %+v", got)
	}
}

func TestCrashBetweenSendAndMarkResendsSameIDAndSequence(t *testing.T) {
	testCrashBetweenSendAndMarkResendsSameIDAndSequence(t, embedded)
}
func TestCrashBetweenSendAndMarkResendsSameIDAndSequenceOnTSQL(t *testing.T) {
	testCrashBetweenSendAndMarkResendsSameIDAndSequence(t, onServer)
}

func testCrashBetweenSendAndMarkResendsSameIDAndSequence(t *testing.T, o opener) {
	e := setup(t, o)
	var ids []string
	for i := 1; i <= 5; i++ {
		ids = append(ids, e.publish(e.queue, "c", cloudEvent(fmt.Sprintf("ev-%d", i), i))...)
	}
	sends := 0
	crashing := e.cfg
	crashing.Hooks.AfterSend = func(catalog.OutboxRow) error {
		sends++
		if sends == 3 {
			return errors.New("killed")
		}
		return nil
	}
	if _, err := e.service(crashing).Drain(e.ctx, outbox.DrainParams{}); err == nil {
		t.Fatal("the crashing drain reported success")
	}
	if st := e.status(); st.Pending != 5 {
		t.Fatalf("after the crash %+v, want all 5 still pending (none marked)", st)
	}
	// Before the dead drainer's claims expire nobody sends its rows again.
	if res := e.drain(); res.Sent != 0 {
		t.Fatalf("rows under a live claim were sent again: %+v", res)
	}
	e.clock.Add(outbox.DefaultClaimTTL + time.Second)
	if res := e.drain(); res.Sent != 5 {
		t.Fatalf("recovery drain: %+v", res)
	}
	got := e.received()
	if len(got) != 8 { // 3 before the crash, 5 after
		t.Fatalf("%d messages, want 8", len(got))
	}
	first := map[int64]inbox.Event{}
	box := inbox.NewBuffer()
	var delivered []string
	for _, ev := range got {
		if prev, ok := first[ev.Sequence]; ok {
			if prev.ID != ev.ID || string(prev.Body) != string(ev.Body) {
				t.Fatalf("sequence %d was sent as %s and as %s", ev.Sequence, prev.Body, ev.Body)
			}
		} else {
			first[ev.Sequence] = ev
		}
		ready, err := box.Offer(ev)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range ready {
			delivered = append(delivered, r.ID)
		}
	}
	if !slices.Equal(delivered, ids) {
		t.Fatalf("the consumer applied %v, want %v once each in order", delivered, ids)
	}
}

func TestTwoDrainersRace(t *testing.T)       { testTwoDrainersRace(t, embedded) }
func TestTwoDrainersRaceOnTSQL(t *testing.T) { testTwoDrainersRace(t, onServer) }

func testTwoDrainersRace(t *testing.T, o opener) {
	// Slow sends make the drainers' passes overlap; conversations published
	// one after the other make their batches reach different ones.
	e := setup(t, o, func(c *outbox.Config) {
		c.Batch, c.Concurrency = 40, 4
		c.Sender = &flaky{Sender: c.Sender, fail: func(string, []byte) bool { time.Sleep(2 * time.Millisecond); return false }}
	})
	// Three drainers, warmed up on the empty outbox first: a T-SQL
	// engine's first statements on fresh connections take a second or
	// more, long enough for one drainer to do all the work alone.
	results := make([]outbox.DrainResult, 3)
	svcs := make([]*outbox.Service, len(results))
	for d := range svcs {
		svcs[d] = e.service(e.cfg)
	}
	var warm sync.WaitGroup
	for _, svc := range svcs {
		warm.Go(func() {
			if _, err := svc.Drain(e.ctx, outbox.DrainParams{}); err != nil {
				t.Error(err)
			}
		})
	}
	warm.Wait()
	const convs, per = 6, 25
	want := map[string][]string{}
	for c := range convs {
		for i := range per {
			conv := fmt.Sprintf("c%d", c)
			want[conv] = append(want[conv], e.publish(e.queue, conv, cloudEvent(fmt.Sprintf("%s-%d", conv, i), i))...)
		}
	}
	var wg sync.WaitGroup
	for d, svc := range svcs {
		wg.Go(func() {
			for {
				res, err := svc.Drain(e.ctx, outbox.DrainParams{})
				if err != nil {
					t.Error(err)
					return
				}
				results[d].Sent += res.Sent
				if st, _ := svc.Status(e.ctx); st.Pending == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	var total int64
	for _, r := range results {
		total += r.Sent
	}
	got := e.received()
	if total != convs*per || len(got) != convs*per {
		t.Fatalf("drainers marked %d sent and the queue holds %d, want %d each: no row sent twice", total, len(got), convs*per)
	}
	arrived := map[string][]string{}
	last := map[string]int64{}
	for _, ev := range got {
		if ev.Sequence <= last[ev.Conversation] {
			t.Fatalf("conversation %s: sequence %d arrived after %d", ev.Conversation, ev.Sequence, last[ev.Conversation])
		}
		last[ev.Conversation] = ev.Sequence
		arrived[ev.Conversation] = append(arrived[ev.Conversation], ev.ID)
	}
	for conv, ids := range want {
		if !slices.Equal(arrived[conv], ids) {
			t.Fatalf("conversation %s arrived as %v, want %v", conv, arrived[conv], ids)
		}
	}
	busy := 0
	for _, r := range results {
		if r.Sent > 0 {
			busy++
		}
	}
	t.Logf("sent per drainer: %d %d %d", results[0].Sent, results[1].Sent, results[2].Sent)
	switch {
	case busy >= 2:
	case o.name == "sqlite":
		t.Error("only one drainer sent anything: the race was not exercised")
	default:
		// On the T-SQL engine the losers' statements wait on the winner's
		// row locks (their sequencing finds the rows taken, their claims
		// find them held) and one drainer often ends up sending it all:
		// the race ran, the sends were not shared.
		t.Log("one drainer sent everything; the others lost every race for the rows")
	}
}

func TestStorageFailureRetriesWithoutReordering(t *testing.T) {
	testStorageFailureRetriesWithoutReordering(t, embedded)
}
func TestStorageFailureRetriesWithoutReorderingOnTSQL(t *testing.T) {
	testStorageFailureRetriesWithoutReordering(t, onServer)
}

func testStorageFailureRetriesWithoutReordering(t *testing.T, o opener) {
	e := setup(t, o)
	failing := true
	f := &flaky{Sender: e.broker, fail: func(_ string, body []byte) bool {
		return failing && strings.Contains(string(body), `"id":"ev-1"`)
	}}
	cfg := e.cfg
	cfg.Sender = f
	svc := e.service(cfg)
	for i := 1; i <= 3; i++ {
		e.publish(e.queue, "c", cloudEvent(fmt.Sprintf("ev-%d", i), i))
	}
	res, err := svc.Drain(e.ctx, outbox.DrainParams{})
	if err != nil || res.Sent != 0 || res.Retried != 1 {
		t.Fatalf("drain with ev-1 failing: %+v, %v", res, err)
	}
	if f.calls.Load() != outbox.DefaultSendTries {
		t.Fatalf("%d sends, want %d tries of ev-1 and nothing after it", f.calls.Load(), outbox.DefaultSendTries)
	}
	// In back-off: nothing moves, not even the rows behind it.
	if res, _ := svc.Drain(e.ctx, outbox.DrainParams{}); res.Sent != 0 {
		t.Fatalf("sent during the back-off: %+v", res)
	}
	failing = false
	e.clock.Add(outbox.DefaultRetryMin)
	if res, err := svc.Drain(e.ctx, outbox.DrainParams{}); err != nil || res.Sent != 3 {
		t.Fatalf("after the back-off: %+v, %v", res, err)
	}
	var seqs []int64
	for _, ev := range e.received() {
		seqs = append(seqs, ev.Sequence)
	}
	if fmt.Sprint(seqs) != "[1 2 3]" {
		t.Fatalf("arrived %v", seqs)
	}
}

// TestPublishNeedsNoStorage: a publish is a row in the caller's
// transaction; with queue storage unreachable it succeeds, the drain keeps
// the rows, and they leave once storage is back. (How long a publish takes
// is measured in BenchmarkPublish.)
func TestPublishNeedsNoStorage(t *testing.T)       { testPublishNeedsNoStorage(t, embedded) }
func TestPublishNeedsNoStorageOnTSQL(t *testing.T) { testPublishNeedsNoStorage(t, onServer) }

func testPublishNeedsNoStorage(t *testing.T, o opener) {
	e := setup(t, o)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // nothing listens there now
	down, err := broker.New(config.Storage{ConnectionString: config.DevConnectionString("127.0.0.1", 1, portOf(t, dead))},
		broker.Options{Retry: policy.RetryOptions{MaxRetries: -1, TryTimeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	ids := e.publish(e.queue, "c", cloudEvent("a", 1), cloudEvent("b", 2))
	cfg := e.cfg
	cfg.Sender, cfg.SendTries = down, 1
	res, err := e.service(cfg).Drain(e.ctx, outbox.DrainParams{})
	if err != nil || res.Sent != 0 || res.Retried != 1 {
		t.Fatalf("drain with storage down: %+v, %v", res, err)
	}
	if st := e.status(); st.Pending != 2 {
		t.Fatalf("status %+v", st)
	}
	e.clock.Add(time.Minute)
	if res := e.drain(); res.Sent != 2 {
		t.Fatalf("drain with storage back: %+v", res)
	}
	got := e.received()
	if len(got) != 2 || got[0].ID != ids[0] || got[1].ID != ids[1] {
		t.Fatalf("received %+v", got)
	}
}

func portOf(t *testing.T, addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(p, &n)
	return n
}

func TestPurgeKeepsTheLastOfEachConversation(t *testing.T) {
	testPurgeKeepsTheLastOfEachConversation(t, embedded)
}
func TestPurgeKeepsTheLastOfEachConversationOnTSQL(t *testing.T) {
	testPurgeKeepsTheLastOfEachConversation(t, onServer)
}

func testPurgeKeepsTheLastOfEachConversation(t *testing.T, o opener) {
	e := setup(t, o)
	e.publish(e.queue, "c", cloudEvent("a", 1), cloudEvent("b", 2), cloudEvent("c", 3))
	if res := e.drain(); res.Sent != 3 || res.Purged != 0 {
		t.Fatalf("drain: %+v", res)
	}
	e.clock.Add(outbox.DefaultRetention + time.Minute)
	res := e.drain()
	if res.Purged != 2 {
		t.Fatalf("purge after the retention: %+v, want 2 rows (the last stays)", res)
	}
	if st := e.status(); st.Sent != 1 {
		t.Fatalf("status %+v", st)
	}
	e.publish(e.queue, "c", cloudEvent("d", 4))
	e.drain()
	got := e.received()
	if last := got[len(got)-1]; last.ID != "d" || last.Sequence != 4 {
		t.Fatalf("after the purge the conversation went on with %+v, want d at 4", last)
	}
}

func TestDryRunChangesNothing(t *testing.T)       { testDryRunChangesNothing(t, embedded) }
func TestDryRunChangesNothingOnTSQL(t *testing.T) { testDryRunChangesNothing(t, onServer) }

func testDryRunChangesNothing(t *testing.T, o opener) {
	e := setup(t, o)
	e.publish(e.queue, "c", cloudEvent("a", 1))
	e.publish("nope-queue", "c", cloudEvent("b", 2))
	res, err := e.svc.Drain(e.ctx, outbox.DrainParams{DryRun: true})
	if err != nil || !res.DryRun || res.WouldSend != 1 || res.WouldFail != 1 || res.Sent != 0 {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	if st := e.status(); st.Pending != 2 || st.Failed != 0 {
		t.Fatalf("a dry run changed the outbox: %+v", st)
	}
}

func TestStatusAge(t *testing.T)       { testStatusAge(t, embedded) }
func TestStatusAgeOnTSQL(t *testing.T) { testStatusAge(t, onServer) }

func testStatusAge(t *testing.T, o opener) {
	e := setup(t, o)
	e.publish(e.queue, "", cloudEvent("a", 1))
	e.clock.Add(90 * time.Second)
	st := e.status()
	// SQL Server stamps CreatedAt with its own clock, a moment after
	// the test clock's start.
	if st.Pending != 1 || st.OldestPendingAgeSeconds > 90 || st.OldestPendingAgeSeconds < 85 || st.OldestPendingAt == nil {
		t.Fatalf("status %+v", st)
	}
}

func TestFollowStopsWithContext(t *testing.T)       { testFollowStopsWithContext(t, embedded) }
func TestFollowStopsWithContextOnTSQL(t *testing.T) { testFollowStopsWithContext(t, onServer) }

func testFollowStopsWithContext(t *testing.T, o opener) {
	e := setup(t, o)
	e.publish(e.queue, "c", cloudEvent("a", 1))
	ctx, cancel := context.WithCancel(e.ctx)
	done := make(chan error, 1)
	sent := make(chan int64, 10)
	go func() {
		done <- e.svc.Follow(ctx, outbox.FollowParams{PollMin: 10 * time.Millisecond, Report: func(r outbox.DrainResult) { sent <- r.Sent }})
	}()
	if n := <-sent; n != 1 {
		t.Fatalf("follow sent %d", n)
	}
	e.publish(e.queue, "c", cloudEvent("b", 2))
	if n := <-sent; n != 1 {
		t.Fatalf("follow sent %d of the second publish", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
