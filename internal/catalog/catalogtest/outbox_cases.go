package catalogtest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
)

// The outbox cases (catalog.Outbox). On SQL Server they go through the real
// dbo.usp_PublishMessage.

var outboxCases = []struct {
	name string
	fn   func(*testing.T, *env)
}{
	{"OutboxRollbackPublishesNothing", testOutboxRollback},
	{"OutboxPublishChecks", testOutboxPublishChecks},
	{"OutboxCommitOrder", testOutboxCommitOrder},
	{"OutboxSequence", testOutboxSequence},
	{"OutboxSequenceRace", testOutboxSequenceRace},
	{"OutboxClaim", testOutboxClaim},
	{"OutboxMarkSent", testOutboxMarkSent},
	{"RetryOutboxParams", testOutboxRetry},
	{"OutboxFail", testOutboxFail},
	{"OutboxPurge", testOutboxPurge},
	{"OutboxMessages", testOutboxMessages},
}

const outboxQueue = "neo4j-sync"

// publish publishes msgs in one committed transaction and returns their ids.
func (e *env) publish(queue, conv string, msgs ...string) []string {
	e.t.Helper()
	tx, err := e.cat.BeginPublish(e.ctx)
	wantOK(e.t, "begin publish", err)
	var ids []string
	for _, m := range msgs {
		id, err := tx.Publish(e.ctx, catalog.OutboxMessage{Queue: queue, ConversationID: conv, Message: m, Now: Base})
		if err != nil {
			tx.Rollback()
			e.t.Fatalf("publish %s: %v", m, err)
		}
		ids = append(ids, id)
	}
	wantOK(e.t, "commit publish", tx.Commit())
	return ids
}

func (e *env) unsequenced() []catalog.OutboxRow {
	e.t.Helper()
	rows, err := e.cat.Unsequenced(e.ctx, catalog.UnsequencedParams{Limit: 100})
	wantOK(e.t, "unsequenced", err)
	return rows
}

func rowIDs(rows []catalog.OutboxRow) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

// sequence sequences every unsequenced row for token.
func (e *env) sequence(token string, now time.Time) int64 {
	e.t.Helper()
	n, err := e.cat.SequenceOutbox(e.ctx, catalog.SequenceOutboxParams{IDs: rowIDs(e.unsequenced()), Token: token, Now: now, Until: now.Add(time.Minute)})
	wantOK(e.t, "sequence", err)
	return n
}

func (e *env) claimOutbox(token string, now time.Time) []catalog.OutboxRow {
	e.t.Helper()
	rows, err := e.cat.ClaimOutbox(e.ctx, catalog.ClaimOutboxParams{Token: token, Now: now, Until: now.Add(time.Minute), Limit: 100})
	wantOK(e.t, "claim outbox", err)
	return rows
}

// counts is OutboxStatus as "queue/state" → rows.
func (e *env) outboxCounts() map[string]int64 {
	e.t.Helper()
	cs, err := e.cat.OutboxStatus(e.ctx)
	wantOK(e.t, "outbox status", err)
	out := map[string]int64{}
	for _, c := range cs {
		out[c.Queue+"/"+string(c.State)] = c.Rows
	}
	return out
}

func event(id string, n int) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"/test","type":"t","data":{"n":%d}}`, id, n)
}

func testOutboxRollback(t *testing.T, e *env) {
	tx, err := e.cat.BeginPublish(e.ctx)
	wantOK(t, "begin", err)
	id, err := tx.Publish(e.ctx, catalog.OutboxMessage{Queue: outboxQueue, Message: event("ev-rolled-back", 1)})
	wantOK(t, "publish", err)
	if id != "ev-rolled-back" {
		t.Fatalf("message id %q, want the CloudEvent's id", id)
	}
	wantOK(t, "rollback", tx.Rollback())
	if rows := e.unsequenced(); len(rows) != 0 {
		t.Fatalf("a rolled-back publish left rows: %+v", rows)
	}
	if c := e.outboxCounts(); len(c) != 0 {
		t.Fatalf("outbox after rollback: %v", c)
	}

	ids := e.publish(outboxQueue, "", event("a", 1), event("b", 2), event("c", 3))
	rows := e.unsequenced()
	if len(rows) != 3 {
		t.Fatalf("%d rows after committing 3", len(rows))
	}
	for i, r := range rows {
		if r.MessageID != ids[i] || r.Queue != outboxQueue || r.ConversationID != "" || r.Sequence != 0 ||
			r.State != catalog.OutboxPending || r.Message != event(ids[i], i+1) {
			t.Fatalf("row %d = %+v", i, r)
		}
		if i > 0 && r.ID <= rows[i-1].ID {
			t.Fatal("unsequenced rows are not in OutboxId order")
		}
	}
	if c := e.outboxCounts(); c[outboxQueue+"/pending"] != 3 {
		t.Fatalf("status %v", c)
	}
}

func testOutboxPublishChecks(t *testing.T, e *env) {
	for _, m := range []catalog.OutboxMessage{
		{Queue: "", Message: `{}`},
		{Queue: "ab", Message: `{}`},
		{Queue: "Neo4j-Sync", Message: `{}`},
		{Queue: "neo4j_sync", Message: `{}`},
		{Queue: outboxQueue, Message: ``},
		{Queue: outboxQueue, Message: `not json`},
		{Queue: outboxQueue, Message: `{"a":`},
		{Queue: outboxQueue, Message: `42`},
		{Queue: outboxQueue, Message: `{"specversion":"1.0","id":"` + strings.Repeat("x", 101) + `"}`},
	} {
		tx, err := e.cat.BeginPublish(e.ctx)
		wantOK(t, "begin", err)
		if _, err := tx.Publish(e.ctx, m); err == nil {
			t.Errorf("publish %+v was accepted", m)
		}
		tx.Rollback()
	}
	if c := e.outboxCounts(); len(c) != 0 {
		t.Fatalf("refused publishes wrote rows: %v", c)
	}

	ids := e.publish(outboxQueue, "atom:1", `{"id":"not-an-event","n":1}`, `[1,2]`, event("ev-9", 9))
	if len(ids[0]) != 36 || ids[0] == "not-an-event" || len(ids[1]) != 36 || ids[0] == ids[1] {
		t.Fatalf("a plain JSON document got id %q / %q, want a new UUID each", ids[0], ids[1])
	}
	if ids[2] != "ev-9" {
		t.Fatalf("CloudEvent id %q", ids[2])
	}
	rows := e.unsequenced()
	if len(rows) != 3 || rows[0].ConversationID != "atom:1" || rows[0].MessageID != ids[0] {
		t.Fatalf("rows %+v", rows)
	}
}

// testOutboxCommitOrder: a row whose transaction commits late is not seen
// until it commits, and then comes after the rows committed before it.
func testOutboxCommitOrder(t *testing.T, e *env) {
	if e.cat.Dialect() == "sqlite" {
		t.Skip("the embedded catalog has one writer at a time: a publishing transaction holds the write lock until it ends, so commit order is insert order")
	}
	late, err := e.cat.BeginPublish(e.ctx)
	wantOK(t, "begin", err)
	defer late.Rollback()
	_, err = late.Publish(e.ctx, catalog.OutboxMessage{Queue: outboxQueue, ConversationID: "c", Message: event("late", 1)})
	wantOK(t, "publish late", err)
	e.publish(outboxQueue, "c", event("early", 2))

	rows := e.unsequenced()
	if len(rows) != 1 || rows[0].MessageID != "early" {
		t.Fatalf("with a transaction still open the drain sees %+v, want only the committed row", rows)
	}
	if n := e.sequence("tok", Base); n != 1 {
		t.Fatalf("sequenced %d", n)
	}
	wantOK(t, "commit late", late.Commit())
	if n := e.sequence("tok", Base); n != 1 {
		t.Fatalf("sequenced %d", n)
	}
	got := e.claimOutbox("tok", Base)
	if len(got) != 2 || got[0].MessageID != "early" || got[0].Sequence != 1 || got[1].MessageID != "late" || got[1].Sequence != 2 {
		t.Fatalf("order %+v: want early (committed first) = 1, late = 2", got)
	}
	if got[1].ID > got[0].ID {
		t.Fatal("the late row has the higher OutboxId: the test proves nothing")
	}
}

func testOutboxSequence(t *testing.T, e *env) {
	e.publish(outboxQueue, "a", event("a1", 1), event("a2", 2))
	e.publish(outboxQueue, "b", event("b1", 1))
	e.publish("other-queue", "a", event("o1", 1))
	e.publish(outboxQueue, "a", event("a3", 3))
	rows := e.unsequenced()
	if n := e.sequence("tok", Base); n != 5 {
		t.Fatalf("sequenced %d, want 5", n)
	}
	if len(e.unsequenced()) != 0 {
		t.Fatal("rows left unsequenced")
	}
	// A second run on the same rows changes nothing.
	n, err := e.cat.SequenceOutbox(e.ctx, catalog.SequenceOutboxParams{IDs: rowIDs(rows), Token: "tok2", Now: Base, Until: Base.Add(time.Minute)})
	wantOK(t, "sequence again", err)
	if n != 0 {
		t.Fatalf("sequenced %d rows twice", n)
	}
	got := map[string]catalog.OutboxRow{}
	for _, r := range e.claimOutbox("tok", Base) {
		got[r.MessageID] = r
	}
	want := map[string][2]int64{"a1": {1, 1}, "a2": {2, 1}, "a3": {3, 1}, "b1": {1, 1}, "o1": {1, 1}}
	if len(got) != len(want) {
		t.Fatalf("tok holds %d rows, want %d", len(got), len(want))
	}
	for id, w := range want {
		if r := got[id]; r.Sequence != w[0] || r.Head != w[1] {
			t.Errorf("%s: sequence %d head %d, want %d %d", id, r.Sequence, r.Head, w[0], w[1])
		}
	}
	if other := e.claimOutbox("tok2", Base); len(other) != 0 {
		t.Fatalf("another token claimed rows tok holds: %+v", other)
	}
	if err := func() error {
		_, err := e.cat.SequenceOutbox(e.ctx, catalog.SequenceOutboxParams{IDs: []int64{1}, Token: "", Now: Base, Until: Base})
		return err
	}(); err == nil {
		t.Fatal("a sequence without a token was accepted")
	}
}

// testOutboxSequenceRace: drainers sequencing the same rows at once never
// give one number twice nor leave a gap.
func testOutboxSequenceRace(t *testing.T, e *env) {
	const perConv, convs, drainers = 12, 3, 4
	for i := range perConv {
		for c := range convs {
			e.publish(outboxQueue, fmt.Sprintf("c%d", c), event(fmt.Sprintf("c%d-%d", c, i), i))
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, drainers*100)
	for d := range drainers {
		wg.Go(func() {
			tok := fmt.Sprintf("d%d", d)
			for range 50 {
				rows, err := e.cat.Unsequenced(e.ctx, catalog.UnsequencedParams{Limit: 5 + d})
				if err != nil {
					errs <- err
					return
				}
				if len(rows) == 0 {
					return
				}
				// Each drainer takes its own slice of what it sees, so the
				// plans overlap without being equal.
				ids := rowIDs(rows)[d%len(rows):]
				_, err = e.cat.SequenceOutbox(e.ctx, catalog.SequenceOutboxParams{IDs: ids, Token: tok, Now: Base, Until: Base.Add(time.Minute)})
				if err != nil && !errors.Is(err, catalog.ErrConflict) {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if left := e.unsequenced(); len(left) != 0 {
		t.Fatalf("%d rows left unsequenced", len(left))
	}
	seqs := map[string][]int64{}
	for d := range drainers {
		for _, r := range e.claimOutbox(fmt.Sprintf("d%d", d), Base) {
			seqs[r.ConversationID] = append(seqs[r.ConversationID], r.Sequence)
		}
	}
	for c := range convs {
		got := seqs[fmt.Sprintf("c%d", c)]
		slices.Sort(got)
		for i, s := range got {
			if s != int64(i+1) {
				t.Fatalf("conversation c%d has sequences %v, want 1..%d without a gap or a repeat", c, got, perConv)
			}
		}
		if len(got) != perConv {
			t.Fatalf("conversation c%d has %d sequenced rows, want %d", c, len(got), perConv)
		}
	}
}

func testOutboxClaim(t *testing.T, e *env) {
	e.publish(outboxQueue, "c", event("m1", 1), event("m2", 2), event("m3", 3))
	e.sequence("A", Base)
	held := e.claimOutbox("A", Base)
	if len(held) != 3 || held[0].Head != 1 {
		t.Fatalf("A holds %+v", held)
	}
	// A releases m2 and m3 but keeps m1: B may not take m2 while an earlier
	// row of the conversation is held by A.
	wantOK(t, "release", e.cat.ReleaseOutbox(e.ctx, catalog.ReleaseOutboxParams{Token: "A", IDs: []int64{held[1].ID, held[2].ID}}))
	if got := e.claimOutbox("B", Base); len(got) != 0 {
		t.Fatalf("B claimed %+v behind A's live claim on m1", got)
	}
	// Once A's claim has expired, B takes the whole conversation.
	later := Base.Add(2 * time.Minute)
	got := e.claimOutbox("B", later)
	if len(got) != 3 || got[0].MessageID != "m1" || got[0].Head != 1 || got[2].Sequence != 3 {
		t.Fatalf("B after A's claim expired holds %+v", got)
	}
	// B's claim is live: A cannot take the rows back, even its old m1.
	if got := e.claimOutbox("A", later); len(got) != 0 {
		t.Fatalf("A took back %+v", got)
	}
	// Listing renews the holder's claims: C cannot take them at the
	// old expiry.
	if got := e.claimOutbox("B", later.Add(50*time.Second)); len(got) != 3 {
		t.Fatalf("B lists %d rows", len(got))
	}
	if got := e.claimOutbox("C", later.Add(61*time.Second)); len(got) != 0 {
		t.Fatalf("C took rows whose claim B had renewed: %+v", got)
	}
	// Limit 0 only lists.
	rows, err := e.cat.ClaimOutbox(e.ctx, catalog.ClaimOutboxParams{Token: "B", Now: later, Until: later.Add(time.Minute)})
	wantOK(t, "list", err)
	if len(rows) != 3 {
		t.Fatalf("listing B's rows gave %d", len(rows))
	}
	// Unsequenced rows are never claimed.
	e.publish(outboxQueue, "d", event("d1", 1))
	if got := e.claimOutbox("C", later.Add(3*time.Hour)); len(got) != 3 || slices.ContainsFunc(got, func(r catalog.OutboxRow) bool { return r.MessageID == "d1" }) {
		t.Fatalf("C claimed %+v", got)
	}
}

func testOutboxMarkSent(t *testing.T, e *env) {
	e.publish(outboxQueue, "c", event("m1", 1), event("m2", 2))
	e.sequence("A", Base)
	held := e.claimOutbox("A", Base)
	n, err := e.cat.MarkOutboxSent(e.ctx, catalog.MarkOutboxSentParams{Token: "B", Sent: []catalog.OutboxSentRow{{ID: held[0].ID, QueueMessageID: "q1"}}, Now: Base})
	wantOK(t, "mark with another token", err)
	if n != 0 {
		t.Fatal("a row was marked sent under another drainer's token")
	}
	n, err = e.cat.MarkOutboxSent(e.ctx, catalog.MarkOutboxSentParams{Token: "A", Sent: []catalog.OutboxSentRow{{ID: held[0].ID, QueueMessageID: "q1"}}, Now: Base})
	wantOK(t, "mark", err)
	if n != 1 {
		t.Fatalf("marked %d", n)
	}
	rest := e.claimOutbox("A", Base)
	if len(rest) != 1 || rest[0].MessageID != "m2" || rest[0].Head != 2 {
		t.Fatalf("after m1 was sent A holds %+v (head must move to 2)", rest)
	}
	// Marking twice changes nothing.
	if n, _ := e.cat.MarkOutboxSent(e.ctx, catalog.MarkOutboxSentParams{Token: "A", Sent: []catalog.OutboxSentRow{{ID: held[0].ID}}, Now: Base}); n != 0 {
		t.Fatal("a sent row was marked again")
	}
	if c := e.outboxCounts(); c[outboxQueue+"/sent"] != 1 || c[outboxQueue+"/pending"] != 1 {
		t.Fatalf("status %v", c)
	}
}

func testOutboxRetry(t *testing.T, e *env) {
	e.publish(outboxQueue, "c", event("m1", 1), event("m2", 2))
	e.sequence("A", Base)
	held := e.claimOutbox("A", Base)
	retryAt := Base.Add(30 * time.Second)
	wantOK(t, "retry", e.cat.RetryOutbox(e.ctx, catalog.RetryOutboxParams{ID: held[0].ID, Token: "A", Error: "queue storage: 503", RetryAt: retryAt}))
	wantOK(t, "release", e.cat.ReleaseOutbox(e.ctx, catalog.ReleaseOutboxParams{Token: "A", IDs: []int64{held[1].ID}}))
	// In back-off: neither the row nor the rest of its conversation moves.
	if got := e.claimOutbox("B", Base.Add(10*time.Second)); len(got) != 0 {
		t.Fatalf("B claimed %+v during the back-off", got)
	}
	got := e.claimOutbox("B", retryAt)
	if len(got) != 2 || got[0].Attempts != 1 || got[0].Head != 1 || got[1].Attempts != 0 {
		t.Fatalf("after the back-off B holds %+v", got)
	}
	// A retry under a lost claim is stale and changes nothing.
	wantOK(t, "stale retry", e.cat.RetryOutbox(e.ctx, catalog.RetryOutboxParams{ID: held[0].ID, Token: "A", Error: "late", RetryAt: retryAt.Add(time.Hour)}))
	if got := e.claimOutbox("B", retryAt); len(got) != 2 || got[0].Attempts != 1 {
		t.Fatalf("a stale retry changed the row: %+v", got)
	}
}

func testOutboxFail(t *testing.T, e *env) {
	e.publish(outboxQueue, "c", event("ok", 1))
	e.publish("not-allowed", "c", event("bad", 2))
	rows := e.unsequenced()
	n, err := e.cat.FailOutbox(e.ctx, catalog.FailOutboxParams{Failures: []catalog.OutboxFailure{{ID: rows[1].ID, Reason: `queue "not-allowed" is not in PUBLISH_QUEUES`}}})
	wantOK(t, "fail", err)
	if n != 1 {
		t.Fatalf("failed %d", n)
	}
	left := e.unsequenced()
	if len(left) != 1 || left[0].MessageID != "ok" {
		t.Fatalf("unsequenced after the failure: %+v", left)
	}
	e.sequence("A", Base)
	// A sequenced row cannot be failed: it has its place in the conversation.
	if n, _ := e.cat.FailOutbox(e.ctx, catalog.FailOutboxParams{Failures: []catalog.OutboxFailure{{ID: left[0].ID, Reason: "x"}}}); n != 0 {
		t.Fatal("a sequenced row was failed")
	}
	if c := e.outboxCounts(); c["not-allowed/failed"] != 1 || c[outboxQueue+"/pending"] != 1 {
		t.Fatalf("status %v", c)
	}
}

func testOutboxPurge(t *testing.T, e *env) {
	e.publish(outboxQueue, "c", event("m1", 1), event("m2", 2), event("m3", 3))
	e.publish(outboxQueue, "d", event("d1", 1))
	e.sequence("A", Base)
	var sent []catalog.OutboxSentRow
	for _, r := range e.claimOutbox("A", Base) {
		sent = append(sent, catalog.OutboxSentRow{ID: r.ID, QueueMessageID: "q-" + r.MessageID})
	}
	if n, err := e.cat.MarkOutboxSent(e.ctx, catalog.MarkOutboxSentParams{Token: "A", Sent: sent, Now: Base}); err != nil || n != 4 {
		t.Fatalf("mark: %d, %v", n, err)
	}
	if n, err := e.cat.PurgeOutbox(e.ctx, catalog.PurgeOutboxParams{Before: Base, Limit: 100}); err != nil || n != 0 {
		t.Fatalf("purge of rows sent at the cutoff: %d, %v", n, err)
	}
	n, err := e.cat.PurgeOutbox(e.ctx, catalog.PurgeOutboxParams{Before: Base.Add(time.Second), Limit: 1})
	wantOK(t, "purge", err)
	if n != 1 {
		t.Fatalf("purged %d with limit 1", n)
	}
	n, err = e.cat.PurgeOutbox(e.ctx, catalog.PurgeOutboxParams{Before: Base.Add(time.Second), Limit: 100})
	wantOK(t, "purge", err)
	if n != 1 {
		t.Fatalf("purged %d more, want 1: the last row of each conversation stays", n)
	}
	if c := e.outboxCounts(); c[outboxQueue+"/sent"] != 2 {
		t.Fatalf("status after purge %v", c)
	}
	// The kept row carries the count on: the next message of c is 4.
	e.publish(outboxQueue, "c", event("m4", 4))
	e.sequence("A", Base)
	got := e.claimOutbox("A", Base)
	if len(got) != 1 || got[0].Sequence != 4 {
		t.Fatalf("after the purge the next row of c got %+v, want sequence 4", got)
	}
}

func testOutboxMessages(t *testing.T, e *env) {
	big := `{"text":"` + strings.Repeat("é—ü😀", 4000) + `"}`
	e.publish(outboxQueue, "", big, `{"a":"b"}`)
	rows := e.unsequenced()
	if rows[0].Message != big {
		t.Fatalf("Unsequenced changed the message (%d bytes, want %d)", len(rows[0].Message), len(big))
	}
	msgs, err := e.cat.OutboxMessages(e.ctx, catalog.OutboxMessagesParams{IDs: rowIDs(rows)})
	wantOK(t, "messages", err)
	if len(msgs) != 2 || msgs[rows[0].ID] != big || msgs[rows[1].ID] != `{"a":"b"}` {
		t.Fatalf("messages round trip: %d", len(msgs))
	}
}
