package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/internal/dialect"
)

// The outbox on the embedded catalog (schema/0004_offload_outbox.sql). The
// rules are catalog.Outbox's; SQLite has one writer at a time, so the
// sequencing reads and writes in one IMMEDIATE transaction, and the unique
// index is only a backstop here.

var _ catalog.Outbox = (*DB)(nil)

// BeginPublish implements catalog.Outbox: BEGIN IMMEDIATE on a connection
// of its own, so the transaction waits for the write lock at its start
// (busy_timeout) instead of failing at its first INSERT.
func (d *DB) BeginPublish(ctx context.Context) (catalog.OutboxTx, error) {
	c, err := d.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin publish: %w", err)
	}
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		c.Close()
		return nil, fmt.Errorf("sqlite: begin publish: %w", err)
	}
	return &publishTx{c: c}, nil
}

type publishTx struct {
	c    *sql.Conn
	done bool
}

func (t *publishTx) Publish(ctx context.Context, m catalog.OutboxMessage) (string, error) {
	if t.done {
		return "", errors.New("sqlite: publish: the transaction has ended")
	}
	if err := dialect.CheckOutboxMessage(m); err != nil {
		return "", fmt.Errorf("sqlite: %w", err)
	}
	id, err := dialect.OutboxMessageID(m.Message)
	if err != nil {
		return "", fmt.Errorf("sqlite: %w", err)
	}
	now := m.Now
	if now.IsZero() {
		now = time.Now()
	}
	if _, err := t.c.ExecContext(ctx, `
INSERT INTO OffloadOutbox (QueueName, ConversationId, MessageId, Message, CreatedAt) VALUES (?, ?, ?, ?, ?)`,
		m.Queue, m.ConversationID, id, m.Message, ts(now)); err != nil {
		return "", fmt.Errorf("sqlite: publish to %s: %w", m.Queue, err)
	}
	return id, nil
}

func (t *publishTx) Commit() error {
	if t.done {
		return errors.New("sqlite: commit: the transaction has ended")
	}
	t.done = true
	defer t.c.Close()
	if _, err := t.c.ExecContext(context.Background(), "COMMIT"); err != nil {
		endTx(t.c, "ROLLBACK")
		return fmt.Errorf("sqlite: commit publish: %w", err)
	}
	return nil
}

func (t *publishTx) Rollback() error {
	if t.done {
		return nil
	}
	t.done = true
	endTx(t.c, "ROLLBACK")
	return t.c.Close()
}

const outboxRowCols = `OutboxId, QueueName, ConversationId, MessageId, SequenceNumber, Attempts, CreatedAt`

func scanOutboxRow(sc dialect.Scanner, extra ...any) (catalog.OutboxRow, error) {
	var r catalog.OutboxRow
	var created sql.NullString
	err := sc.Scan(append([]any{&r.ID, &r.Queue, &r.ConversationID, &r.MessageID, &r.Sequence, &r.Attempts, &created}, extra...)...)
	if err != nil {
		return r, err
	}
	r.State = catalog.OutboxPending
	r.CreatedAt, err = parseTime(created)
	return r, err
}

// Unsequenced implements catalog.Outbox.
func (d *DB) Unsequenced(ctx context.Context, p catalog.UnsequencedParams) ([]catalog.OutboxRow, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+outboxRowCols+`, Message FROM OffloadOutbox
WHERE OutboxState = 'pending' AND SequenceNumber = 0 ORDER BY OutboxId LIMIT ?`, p.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: outbox unsequenced: %w", err)
	}
	out, err := dialect.Collect(rows, func(sc dialect.Scanner) (catalog.OutboxRow, error) {
		var msg string
		r, err := scanOutboxRow(sc, &msg)
		r.Message = msg
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: outbox unsequenced: %w", err)
	}
	return out, nil
}

// FailOutbox implements catalog.Outbox.
func (d *DB) FailOutbox(ctx context.Context, p catalog.FailOutboxParams) (int64, error) {
	var total int64
	err := d.inTx(ctx, "IMMEDIATE", func(c *sql.Conn) error {
		for _, f := range p.Failures {
			n, err := affected(c.ExecContext(ctx, `
UPDATE OffloadOutbox SET OutboxState = 'failed', LastError = ?, SentAt = NULL, ClaimToken = NULL, ClaimedUntil = NULL
WHERE OutboxId = ? AND OutboxState = 'pending' AND SequenceNumber = 0`,
				dialect.Truncate(f.Reason, dialect.MaxErrorLen), f.ID))
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: outbox fail: %w", err)
	}
	return total, nil
}

// SequenceOutbox implements catalog.Outbox. The next number of each
// conversation is read and assigned inside one write transaction, in
// OutboxId order.
func (d *DB) SequenceOutbox(ctx context.Context, p catalog.SequenceOutboxParams) (int64, error) {
	if err := dialect.CheckSequence(p); err != nil {
		return 0, err
	}
	var total int64
	err := d.inTx(ctx, "IMMEDIATE", func(c *sql.Conn) error {
		next := map[catalog.Conversation]int64{}
		for _, id := range slices.Sorted(slices.Values(p.IDs)) {
			var conv catalog.Conversation
			err := c.QueryRowContext(ctx, `SELECT QueueName, ConversationId FROM OffloadOutbox
WHERE OutboxId = ? AND OutboxState = 'pending' AND SequenceNumber = 0`, id).Scan(&conv.Queue, &conv.ID)
			if errors.Is(err, sql.ErrNoRows) {
				continue // sequenced or failed meanwhile
			}
			if err != nil {
				return err
			}
			seq, ok := next[conv]
			if !ok {
				if err := c.QueryRowContext(ctx, `SELECT coalesce(max(SequenceNumber), 0) FROM OffloadOutbox
WHERE QueueName = ? AND ConversationId = ?`, conv.Queue, conv.ID).Scan(&seq); err != nil {
					return err
				}
			}
			seq++
			next[conv] = seq
			n, err := affected(c.ExecContext(ctx, `
UPDATE OffloadOutbox SET SequenceNumber = ?, SequenceSlot = '', SequencedAt = ?, ClaimToken = ?, ClaimedUntil = ?
WHERE OutboxId = ? AND OutboxState = 'pending' AND SequenceNumber = 0`, seq, ts(p.Now), p.Token, ts(p.Until), id))
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE constraint failed") {
			return 0, fmt.Errorf("sqlite: sequence outbox: %w: %v", catalog.ErrConflict, err)
		}
		return 0, fmt.Errorf("sqlite: sequence outbox: %w", err)
	}
	return total, nil
}

// ClaimOutbox implements catalog.Outbox.
func (d *DB) ClaimOutbox(ctx context.Context, p catalog.ClaimOutboxParams) ([]catalog.OutboxRow, error) {
	if err := dialect.CheckOutboxClaim(p); err != nil {
		return nil, err
	}
	now, until := ts(p.Now), ts(p.Until)
	if p.Limit > 0 {
		_, err := d.db.ExecContext(ctx, `
UPDATE OffloadOutbox SET ClaimToken = ?, ClaimedUntil = ?
WHERE OutboxId IN (
    SELECT o.OutboxId FROM OffloadOutbox AS o
    WHERE o.OutboxState = 'pending' AND o.SequenceNumber > 0
      AND (o.ClaimedUntil IS NULL OR o.ClaimedUntil <= ?)
      AND NOT EXISTS (SELECT 1 FROM OffloadOutbox AS e
          WHERE e.QueueName = o.QueueName AND e.ConversationId = o.ConversationId
            AND e.OutboxState = 'pending' AND e.SequenceNumber > 0 AND e.SequenceNumber < o.SequenceNumber
            AND e.ClaimedUntil > ? AND (e.ClaimToken IS NULL OR e.ClaimToken <> ?))
    ORDER BY o.OutboxId LIMIT ?)
  AND OutboxState = 'pending' AND (ClaimedUntil IS NULL OR ClaimedUntil <= ?)`,
			p.Token, until, now, now, p.Token, p.Limit, now)
		if err != nil {
			return nil, fmt.Errorf("sqlite: claim outbox: %w", err)
		}
	}
	if _, err := d.db.ExecContext(ctx, `UPDATE OffloadOutbox SET ClaimedUntil = ?
WHERE ClaimToken = ? AND OutboxState = 'pending' AND ClaimedUntil < ?`, until, p.Token, until); err != nil {
		return nil, fmt.Errorf("sqlite: claim outbox: extend: %w", err)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT `+outboxRowCols+`,
    (SELECT min(h.SequenceNumber) FROM OffloadOutbox AS h
     WHERE h.QueueName = o.QueueName AND h.ConversationId = o.ConversationId
       AND h.OutboxState = 'pending' AND h.SequenceNumber > 0)
FROM OffloadOutbox AS o
WHERE o.ClaimToken = ? AND o.OutboxState = 'pending' AND o.SequenceNumber > 0
ORDER BY o.QueueName, o.ConversationId, o.SequenceNumber`, p.Token)
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim outbox: %w", err)
	}
	out, err := dialect.Collect(rows, func(sc dialect.Scanner) (catalog.OutboxRow, error) {
		var head int64
		r, err := scanOutboxRow(sc, &head)
		r.Head = head
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim outbox: %w", err)
	}
	return out, nil
}

// OutboxMessages implements catalog.Outbox.
func (d *DB) OutboxMessages(ctx context.Context, p catalog.OutboxMessagesParams) (map[int64]string, error) {
	out := make(map[int64]string, len(p.IDs))
	for _, batch := range dialect.Batches(p.IDs, dialect.OutboxBatch) {
		rows, err := d.db.QueryContext(ctx, "SELECT OutboxId, Message FROM OffloadOutbox WHERE OutboxId IN ("+placeholders(len(batch))+")", anys(batch)...)
		if err != nil {
			return nil, fmt.Errorf("sqlite: outbox messages: %w", err)
		}
		if err := dialect.ScanIDText(rows, out); err != nil {
			return nil, fmt.Errorf("sqlite: outbox messages: %w", err)
		}
	}
	return out, nil
}

// MarkOutboxSent implements catalog.Outbox.
func (d *DB) MarkOutboxSent(ctx context.Context, p catalog.MarkOutboxSentParams) (int64, error) {
	var total int64
	for _, batch := range dialect.Chunks(p.Sent, dialect.OutboxBatch) {
		var cases strings.Builder
		args := []any{ts(p.Now)}
		ids := make([]any, len(batch))
		for i, s := range batch {
			cases.WriteString(" WHEN ? THEN ?")
			args = append(args, s.ID, s.QueueMessageID)
			ids[i] = s.ID
		}
		// A row already sent with the same queue message id is this mark
		// retried after its answer was lost: counted, its SentAt kept.
		whens := args[1:]
		args = append(append(append(args, ids...), p.Token), whens...)
		n, err := affected(d.db.ExecContext(ctx, `
UPDATE OffloadOutbox SET OutboxState = 'sent', SentAt = CASE WHEN OutboxState = 'sent' THEN SentAt ELSE ? END,
  QueueMessageId = CASE OutboxId`+cases.String()+` END,
  ClaimToken = NULL, ClaimedUntil = NULL, LastError = NULL
WHERE OutboxId IN (`+placeholders(len(batch))+`) AND ((ClaimToken = ? AND OutboxState = 'pending')
  OR (OutboxState = 'sent' AND QueueMessageId = CASE OutboxId`+cases.String()+` END))`, args...))
		if err != nil {
			return total, fmt.Errorf("sqlite: mark outbox sent: %w", err)
		}
		total += n
	}
	return total, nil
}

// RetryOutbox implements catalog.Outbox.
func (d *DB) RetryOutbox(ctx context.Context, r catalog.RetryOutboxParams) error {
	_, err := d.db.ExecContext(ctx, `
UPDATE OffloadOutbox SET Attempts = Attempts + 1, LastError = ?, ClaimToken = NULL, ClaimedUntil = ?
WHERE OutboxId = ? AND ClaimToken = ? AND OutboxState = 'pending'`,
		dialect.Truncate(r.Error, dialect.MaxErrorLen), ts(r.RetryAt), r.ID, r.Token)
	if err != nil {
		return fmt.Errorf("sqlite: retry outbox %d: %w", r.ID, err)
	}
	return nil
}

// ReleaseOutbox implements catalog.Outbox.
func (d *DB) ReleaseOutbox(ctx context.Context, p catalog.ReleaseOutboxParams) error {
	for _, batch := range dialect.Batches(p.IDs, dialect.OutboxBatch) {
		_, err := d.db.ExecContext(ctx, "UPDATE OffloadOutbox SET ClaimToken = NULL, ClaimedUntil = NULL WHERE OutboxId IN ("+
			placeholders(len(batch))+") AND ClaimToken = ?", append(anys(batch), p.Token)...)
		if err != nil {
			return fmt.Errorf("sqlite: release outbox: %w", err)
		}
	}
	return nil
}

// PurgeOutbox implements catalog.Outbox.
func (d *DB) PurgeOutbox(ctx context.Context, p catalog.PurgeOutboxParams) (int64, error) {
	n, err := affected(d.db.ExecContext(ctx, `
DELETE FROM OffloadOutbox WHERE OutboxId IN (
    SELECT o.OutboxId FROM OffloadOutbox AS o
    WHERE o.OutboxState = 'sent' AND o.SentAt < ?
      AND EXISTS (SELECT 1 FROM OffloadOutbox AS n
          WHERE n.QueueName = o.QueueName AND n.ConversationId = o.ConversationId AND n.SequenceNumber > o.SequenceNumber)
    ORDER BY o.OutboxId LIMIT ?)`, ts(p.Before), p.Limit))
	if err != nil {
		return 0, fmt.Errorf("sqlite: purge outbox: %w", err)
	}
	return n, nil
}

// OutboxStatus implements catalog.Outbox.
func (d *DB) OutboxStatus(ctx context.Context) ([]catalog.OutboxCount, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT QueueName, OutboxState, count(*), min(CreatedAt)
FROM OffloadOutbox GROUP BY QueueName, OutboxState ORDER BY QueueName, OutboxState`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: outbox status: %w", err)
	}
	defer rows.Close()
	var out []catalog.OutboxCount
	for rows.Next() {
		var c catalog.OutboxCount
		var state string
		var oldest sql.NullString
		if err := rows.Scan(&c.Queue, &state, &c.Rows, &oldest); err != nil {
			return nil, fmt.Errorf("sqlite: outbox status: %w", err)
		}
		c.State = catalog.OutboxState(state)
		if c.Oldest, err = parseTime(oldest); err != nil {
			return nil, fmt.Errorf("sqlite: outbox status: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func anys(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
