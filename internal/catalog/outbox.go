package catalog

import (
	"context"
	"time"
)

// The transactional outbox (REFERENCE §1.2, dbo.OffloadOutbox): messages
// published from T-SQL by dbo.usp_PublishMessage inside the caller's
// transaction, until the drain has sent them to their Storage Queue.
//
// A row's life: pending without a sequence (as published) → pending with a
// sequence (the drain saw it committed and gave it its place in its
// conversation) → sent; or failed, once, when it can never be sent (a queue
// outside PUBLISH_QUEUES, not JSON, too large). A failed row never gets a
// sequence, so the sequences of a conversation have no gaps.
//
// Order. A conversation is (QueueName, ConversationId); a row published
// without a conversation belongs to its queue's default conversation ("").
// Sequences are 1, 2, 3… per conversation, assigned by the drain in the
// order rows become visible to it: commit order between transactions,
// OutboxId (insert) order within one. Only a committed row is ever
// visible, so a rolled-back publish never gets a sequence, and a row whose
// transaction committed late is ordered after the rows that committed
// before it, whatever its OutboxId.
//
// Races. Sequences are assigned by one conditional UPDATE per batch under
// a unique key on (QueueName, ConversationId, SequenceNumber, SequenceSlot):
// two drainers can never give one number to two rows (the loser's statement
// fails whole with ErrConflict). Sending needs a claim (token, expiry) on
// the row; a drainer sends a row only while every earlier row of its
// conversation is sent, and sends its claimed rows of a conversation one
// after the other, so a conversation is never reordered.

// OutboxState is a row's state in OffloadOutbox.OutboxState.
type OutboxState string

const (
	OutboxPending OutboxState = "pending"
	OutboxSent    OutboxState = "sent"
	OutboxFailed  OutboxState = "failed"
)

// OutboxMessage is one message to publish (what dbo.usp_PublishMessage
// takes).
type OutboxMessage struct {
	Queue   string // a storage queue name
	Message string // a JSON document
	// ConversationID orders the message among the others of its
	// conversation; "" is the queue's default conversation.
	ConversationID string
	// Now is the row's CreatedAt on the embedded catalog (zero: the clock);
	// SQL Server uses SYSUTCDATETIME().
	Now time.Time
}

// OutboxTx is a transaction that publishes: its messages become visible to
// the drain when it commits, and never if it rolls back. It is what a
// caller's BEGIN TRAN … EXEC dbo.usp_PublishMessage … COMMIT is in Go.
type OutboxTx interface {
	// Publish checks the queue name and the JSON and writes one row. It
	// returns the message id: the CloudEvent's id when the document is a
	// CloudEvent that has one, else a new UUID.
	Publish(ctx context.Context, m OutboxMessage) (string, error)
	Commit() error
	Rollback() error
}

// OutboxRow is one OffloadOutbox row. Message is filled only where a method
// says so.
type OutboxRow struct {
	ID             int64
	Queue          string
	ConversationID string
	MessageID      string
	Message        string
	State          OutboxState
	Sequence       int64 // 0 until the drain assigns one
	Attempts       int64
	LastError      string
	CreatedAt      time.Time
	// Head is, in ClaimOutbox's answer, the lowest sequence of the row's
	// conversation that is still pending (the row that must go next).
	Head int64
}

// Conversation names one ordered stream of messages.
type Conversation struct{ Queue, ID string }

// Conversation is the row's conversation.
func (r OutboxRow) Conversation() Conversation {
	return Conversation{Queue: r.Queue, ID: r.ConversationID}
}

// SequenceOutboxParams gives sequences to pending rows. Each row of IDs that
// still has no sequence gets its conversation's next one, in OutboxId order
// (the order Unsequenced returns them, their visibility order), and is
// claimed for Token until Until.
type SequenceOutboxParams struct {
	IDs   []int64
	Token string
	Now   time.Time
	Until time.Time
}

// UnsequencedParams reads up to Limit rows without a sequence.
type UnsequencedParams struct {
	Limit int
}

// FailOutboxParams marks unsequenced rows failed, for good.
type FailOutboxParams struct {
	Failures []OutboxFailure
}

// OutboxFailure is one row FailOutbox marks failed, with its reason.
type OutboxFailure struct {
	ID     int64
	Reason string
}

// ClaimOutboxParams claims up to Limit (0: none, only list) more sequenced, pending rows that no live
// claim or back-off holds and whose conversation has no earlier row held by
// another drainer.
type ClaimOutboxParams struct {
	Token string
	Now   time.Time
	Until time.Time
	Limit int
}

// OutboxMessagesParams reads the Message of the rows IDs.
type OutboxMessagesParams struct {
	IDs []int64
}

// MarkOutboxSentParams marks the rows Sent sent at Now, while Token holds
// them.
type MarkOutboxSentParams struct {
	Token string
	Sent  []OutboxSentRow
	Now   time.Time
}

// OutboxSentRow is a row whose message the queue accepted.
type OutboxSentRow struct {
	ID             int64
	QueueMessageID string
}

// RetryOutboxParams records a failed send of a row and keeps every drainer off
// the row (and so off the rest of its conversation) until RetryAt.
type RetryOutboxParams struct {
	ID      int64
	Token   string
	Error   string
	RetryAt time.Time
}

// ReleaseOutboxParams drops the claims Token holds on the rows IDs.
type ReleaseOutboxParams struct {
	Token string
	IDs   []int64
}

// PurgeOutboxParams deletes up to Limit rows sent before Before.
type PurgeOutboxParams struct {
	Before time.Time
	Limit  int
}

// OutboxCount is the rows of one queue in one state.
type OutboxCount struct {
	Queue  string
	State  OutboxState
	Rows   int64
	Oldest time.Time // the lowest CreatedAt among them
}

// Outbox is the drain's side of OffloadOutbox. Every change is a
// conditional update: a row another drainer holds, or that changed state,
// is left alone.
type Outbox interface {
	// BeginPublish starts a publishing transaction (see OutboxTx).
	BeginPublish(ctx context.Context) (OutboxTx, error)

	// Unsequenced returns up to p.Limit pending rows without a sequence,
	// with their Message, in OutboxId order. Rows of transactions that have
	// not committed are not returned (they are not visible, or skipped).
	Unsequenced(ctx context.Context, p UnsequencedParams) ([]OutboxRow, error)
	// FailOutbox marks unsequenced pending rows failed with their reason.
	// Returns the rows changed.
	FailOutbox(ctx context.Context, p FailOutboxParams) (int64, error)
	// SequenceOutbox assigns sequences (see SequenceOutboxParams) and returns the
	// rows sequenced. ErrConflict when another drainer gave one of the
	// numbers to another row meanwhile: nothing changed, read again.
	SequenceOutbox(ctx context.Context, p SequenceOutboxParams) (int64, error)

	// ClaimOutbox claims free rows (see ClaimOutboxParams), extends every
	// claim Token holds to Until, and returns every pending row Token
	// holds, without Message, with Head set, ordered by conversation and
	// sequence. ErrConflict when the claim lost a race that changed
	// nothing (a deadlock victim on SQL Server): try again next pass.
	ClaimOutbox(ctx context.Context, p ClaimOutboxParams) ([]OutboxRow, error)
	// OutboxMessages returns the Message of each row of p.IDs.
	OutboxMessages(ctx context.Context, p OutboxMessagesParams) (map[int64]string, error)

	// MarkOutboxSent marks rows sent while p.Token holds them, and returns
	// how many it marked (fewer: a claim was lost and its row will be
	// sent again, with the same id and sequence).
	MarkOutboxSent(ctx context.Context, p MarkOutboxSentParams) (int64, error)
	// RetryOutbox records a failed send (Attempts+1, LastError) and drops
	// the claim, keeping the row until RetryAt.
	RetryOutbox(ctx context.Context, p RetryOutboxParams) error
	// ReleaseOutbox drops p.Token's claim on the rows p.IDs.
	ReleaseOutbox(ctx context.Context, p ReleaseOutboxParams) error

	// PurgeOutbox deletes up to p.Limit rows sent before p.Before, except
	// the last row of each conversation, which keeps its sequence counting.
	PurgeOutbox(ctx context.Context, p PurgeOutboxParams) (int64, error)
	// OutboxStatus counts rows by queue and state.
	OutboxStatus(ctx context.Context) ([]OutboxCount, error)
}

// ProcApplier is implemented by dialects that have stored procedures (SQL
// Server): ApplyProcs (re)creates them after Apply. It is not idempotent in
// the sense of Apply (every run re-alters the procedures, which keeps their
// grants), so it is kept apart from Apply's change list.
type ProcApplier interface {
	ApplyProcs(ctx context.Context, p ApplyParams) ([]string, error)
}
