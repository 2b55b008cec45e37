package catalogtest

import (
	"errors"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
)

// Op names a state change whose answer a test can lose.
type Op string

// The state changes of RunLostAnswers.
const (
	OpClaim    Op = "claim"
	OpMigrated Op = "migrated"
	OpRelease  Op = "release"
	OpMarkSent Op = "mark-sent"
	OpFailure  Op = "failure"
)

// Loser arms a fault: the next run of op is applied by the database and
// its answer is lost (the connection breaks after the commit), once.
type Loser func(t *testing.T, op Op)

// RunLostAnswers proves that a retried commit that did apply the first time
// is recognised: open returns a catalog with the retry policy (and no
// waiting: its sleeper is the test's) and the Loser that cuts its answers
// (an injected fault on SQLite, the TDS fault proxy on T-SQL). Claims,
// migration records, releases and outbox marks succeed with the state they
// set; a failure record, which counts an attempt, is not retried: it
// returns the fault and counts once.
func RunLostAnswers(t *testing.T, open func(t *testing.T) (catalog.Catalog, Loser)) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *env, Loser)
	}{
		{"Claim", lostClaim},
		{"RecordMigrated", lostMigrated},
		{"Release", lostRelease},
		{"MarkOutboxSent", lostMarkSent},
		{"RecordFailureNotRepeated", lostFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lose Loser
			e := setup(t, func(t *testing.T) Catalog {
				cat, l := open(t)
				lose = l
				return WithSeeder(t, cat)
			})
			tc.fn(t, e, lose)
		})
	}
}

func lostClaim(t *testing.T, e *env, lose Loser) {
	id := e.segment(1000)
	lose(t, OpClaim)
	p := catalog.ClaimSegmentParams{ID: id, Token: "w1", Now: Base, Until: Base.Add(time.Minute)}
	wantOK(t, "claim whose answer was lost", e.cat.ClaimSegment(e.ctx, p))
	if s := e.get(id); !s.ClaimedUntil.Equal(p.Until) {
		t.Fatalf("claim not recorded: %+v", s)
	}
	other := catalog.ClaimSegmentParams{ID: id, Token: "w2", Now: Base, Until: Base.Add(time.Minute)}
	wantErr(t, "another worker's claim", e.cat.ClaimSegment(e.ctx, other), catalog.ErrClaimed)
}

func lostMigrated(t *testing.T, e *env, lose Loser) {
	id := e.segment(1000)
	wantOK(t, "claim", e.cat.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id, Token: "w1", Now: Base, Until: Base.Add(time.Minute)}))
	lose(t, OpMigrated)
	err := e.cat.RecordMigrated(e.ctx, catalog.RecordMigratedParams{ID: id, Token: "w1", Sha256: sha(id),
		BlobURI: "http://127.0.0.1/tensors/x.bin", ETag: etag(id), Size: 1000, Now: Base})
	wantOK(t, "record migrated whose answer was lost", err)
	s := e.get(id)
	wantState(t, s, catalog.StateMigrated)
	if s.Sha256 != sha(id) || !s.ClaimedUntil.IsZero() {
		t.Fatalf("after a recognised retry: %+v", s)
	}
}

func lostRelease(t *testing.T, e *env, lose Loser) {
	id := e.segment(1000)
	e.migrate(id)
	e.verify(id)
	lose(t, OpRelease)
	err := e.cat.ReleasePayload(e.ctx, catalog.ReleasePayloadParams{ID: id, ExpectSha256: sha(id), ExpectETag: etag(id), Now: Base})
	wantOK(t, "release whose answer was lost", err)
	s := e.get(id)
	wantState(t, s, catalog.StateReleased)
	if s.PayloadBytes != 0 {
		t.Fatalf("released row still has %d payload bytes", s.PayloadBytes)
	}
}

func lostMarkSent(t *testing.T, e *env, lose Loser) {
	e.publish(outboxQueue, "c", event("m1", 1))
	e.sequence("A", Base)
	held := e.claimOutbox("A", Base)
	if len(held) != 1 {
		t.Fatalf("held %+v", held)
	}
	lose(t, OpMarkSent)
	n, err := e.cat.MarkOutboxSent(e.ctx, catalog.MarkOutboxSentParams{Token: "A", Sent: []catalog.OutboxSentRow{{ID: held[0].ID, QueueMessageID: "q1"}}, Now: Base})
	wantOK(t, "mark whose answer was lost", err)
	if n != 1 {
		t.Fatalf("a mark retried after its answer was lost counted %d rows, want 1", n)
	}
	if c := e.outboxCounts(); c[outboxQueue+"/sent"] != 1 || c[outboxQueue+"/pending"] != 0 {
		t.Fatalf("status %v", c)
	}
}

func lostFailure(t *testing.T, e *env, lose Loser) {
	id := e.segment(1000)
	wantOK(t, "claim", e.cat.ClaimSegment(e.ctx, catalog.ClaimSegmentParams{ID: id, Token: "w1", Now: Base, Until: Base.Add(time.Minute)}))
	lose(t, OpFailure)
	err := e.cat.RecordFailure(e.ctx, catalog.RecordFailureParams{ID: id, Token: "w1", Error: "upload failed", Now: Base})
	if err == nil || errors.Is(err, catalog.ErrConflict) {
		t.Fatalf("record failure whose answer was lost: %v, want the connection fault (not retried)", err)
	}
	if s := e.get(id); s.Attempts != 1 || s.LastError != "upload failed" {
		t.Fatalf("attempts %d, error %q: want the one applied failure", s.Attempts, s.LastError)
	}
}
