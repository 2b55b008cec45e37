package mssql

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-sql/civil"
	mssqldb "github.com/microsoft/go-mssqldb"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/internal/dialect"
	sqlscripts "github.com/hartonomous/offload/sql"
)

// The outbox on SQL Server (schema/0003_offload_outbox.sql), with the rules
// of catalog.Outbox. Every change is one statement; none depends on an
// isolation level or a table hint for its correctness:
//   - sequencing is one UPDATE per batch whose numbers the unique key
//     (QueueName, ConversationId, SequenceNumber, SequenceSlot) protects:
//     a number taken meanwhile fails the whole statement (ErrConflict);
//   - claims are compare-and-set on the row, like segment claims;
//   - a row is sent only while every earlier row of its conversation is
//     sent, and "sent" is final, so a stale read can only hold a row back.
// READPAST lets the drain step over rows of transactions still open (and
// rows another drainer is changing) instead of waiting for them, on engines
// that honour it; where it is ignored, committed-only reads give the same
// order.

var _ catalog.Outbox = (*DB)(nil)
var _ catalog.ProcApplier = (*DB)(nil)

//go:embed queries/outbox-status.sql
var outboxStatusSQL string

// dt2 is a non-NULL datetime2 parameter in UTC.
func dt2(t time.Time) civil.DateTime { return civil.DateTimeOf(dialect.Time(t)) }

// ApplyProcs implements catalog.ProcApplier: sql/publish-procs.sql, which
// (re)creates dbo.usp_PublishMessage on the outbox table.
func (d *DB) ApplyProcs(ctx context.Context, p catalog.ApplyParams) ([]string, error) {
	text, err := sqlscripts.Scripts.ReadFile(sqlscripts.PublishProcs)
	if err != nil {
		return nil, fmt.Errorf("mssql: procedures: %w", err)
	}
	batches := splitBatches(withSchema(string(text), d.schema))
	if p.DryRun {
		return batches, nil
	}
	if err := d.ExecBatches(ctx, batches); err != nil {
		return nil, fmt.Errorf("mssql: procedures (%s): %w", sqlscripts.PublishProcs, err)
	}
	d.log.Info("procedures applied", "dialect", "mssql", "script", sqlscripts.PublishProcs)
	return batches, nil
}

// BeginPublish implements catalog.Outbox.
func (d *DB) BeginPublish(ctx context.Context) (catalog.OutboxTx, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("mssql: begin publish: %w", err)
	}
	return &publishTx{tx: tx, proc: d.q("dbo.usp_PublishMessage")}, nil
}

type publishTx struct {
	tx   *sql.Tx
	proc string
}

// Publish calls dbo.usp_PublishMessage in the transaction: the real
// procedure, with its checks.
func (t *publishTx) Publish(ctx context.Context, m catalog.OutboxMessage) (string, error) {
	var id string
	_, err := t.tx.ExecContext(ctx, t.proc,
		sql.Named("Queue", m.Queue),
		sql.Named("Message", m.Message),
		sql.Named("MessageId", sql.Out{Dest: &id}),
		sql.Named("ConversationId", m.ConversationID))
	if err != nil {
		return "", fmt.Errorf("mssql: publish to %q: %w", m.Queue, err)
	}
	return id, nil
}

func (t *publishTx) Commit() error {
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("mssql: commit publish: %w", err)
	}
	return nil
}

func (t *publishTx) Rollback() error {
	if err := t.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("mssql: roll back publish: %w", err)
	}
	return nil
}

const outboxRowCols = `o.OutboxId, o.QueueName, o.ConversationId, o.MessageId, o.SequenceNumber, o.Attempts, o.CreatedAt`

func scanOutboxRow(sc dialect.Scanner, extra ...any) (catalog.OutboxRow, error) {
	var r catalog.OutboxRow
	var created sql.NullTime
	err := sc.Scan(append([]any{&r.ID, &r.Queue, &r.ConversationID, &r.MessageID, &r.Sequence, &r.Attempts, &created}, extra...)...)
	r.State, r.CreatedAt = catalog.OutboxPending, utc(created)
	return r, err
}

// Unsequenced implements catalog.Outbox.
func (d *DB) Unsequenced(ctx context.Context, p catalog.UnsequencedParams) ([]catalog.OutboxRow, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT TOP (@p1) `+outboxRowCols+`, o.Message
FROM dbo.OffloadOutbox AS o WITH (READPAST)
WHERE o.OutboxState = N'pending' AND o.SequenceNumber = 0
ORDER BY o.OutboxId`), p.Limit)
	if err != nil {
		return nil, fmt.Errorf("mssql: outbox unsequenced: %w", err)
	}
	out, err := dialect.Collect(rows, func(sc dialect.Scanner) (catalog.OutboxRow, error) {
		var msg string
		r, err := scanOutboxRow(sc, &msg)
		r.Message = msg
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("mssql: outbox unsequenced: %w", err)
	}
	return out, nil
}

// FailOutbox implements catalog.Outbox.
func (d *DB) FailOutbox(ctx context.Context, p catalog.FailOutboxParams) (int64, error) {
	var total int64
	for _, batch := range dialect.Chunks(p.Failures, dialect.OutboxBatch) {
		var a params
		var cases strings.Builder
		ids := make([]any, len(batch))
		for i, f := range batch {
			fmt.Fprintf(&cases, " WHEN %s THEN %s", a.add(f.ID), a.add(dialect.Truncate(f.Reason, dialect.MaxErrorLen)))
			ids[i] = f.ID
		}
		n, err := affected(d.db.ExecContext(ctx, d.q(`
UPDATE dbo.OffloadOutbox SET OutboxState = N'failed', LastError = CASE OutboxId`+cases.String()+` END,
  ClaimToken = NULL, ClaimedUntil = NULL
WHERE OutboxId IN (`+a.list(ids)+`) AND OutboxState = N'pending' AND SequenceNumber = 0`), a.args...))
		if err != nil {
			return total, fmt.Errorf("mssql: outbox fail: %w", err)
		}
		total += n
	}
	return total, nil
}

// SequenceOutbox implements catalog.Outbox in one UPDATE: each row of
// p.IDs still unsequenced gets its conversation's highest number (read over
// the sequenced rows only, SequenceNumber > 0, so that a caller's
// uncommitted row, at 0, never makes the read wait for its transaction)
// plus its rank among the conversation's rows in the call, by OutboxId, and
// is claimed. If another drainer took one of these numbers meanwhile, the
// unique key fails the UPDATE whole and nothing changes (ErrConflict). A
// row that another drainer sequenced meanwhile is skipped by the UPDATE's
// own condition, and the numbers after it still follow the highest one
// without a gap: a number below it would collide.
//
// The numbers are computed by the server, not sent: a CASE of 500 WHENs
// and the read before it cost the test engine about 0.4 s a pass, more
// than the statement's work (docs/PERFORMANCE.md).
func (d *DB) SequenceOutbox(ctx context.Context, p catalog.SequenceOutboxParams) (int64, error) {
	if err := dialect.CheckSequence(p); err != nil {
		return 0, err
	}
	if len(p.IDs) == 0 {
		return 0, nil
	}
	var a params
	in := a.list(anys(p.IDs))
	now, token, until := a.add(dt2(p.Now)), a.add(p.Token), a.add(dt2(p.Until))
	n, err := affected(d.db.ExecContext(ctx, d.q(`
UPDATE o SET SequenceNumber = s.Base + s.Rank,
  SequenceSlot = CONVERT(uniqueidentifier, '00000000-0000-0000-0000-000000000000'),
  SequencedAt = `+now+`, ClaimToken = `+token+`, ClaimedUntil = `+until+`
FROM dbo.OffloadOutbox AS o
JOIN (SELECT r.OutboxId,
        ROW_NUMBER() OVER (PARTITION BY r.QueueName, r.ConversationId ORDER BY r.OutboxId) AS Rank,
        ISNULL((SELECT MAX(m.SequenceNumber) FROM dbo.OffloadOutbox AS m
          WHERE m.QueueName = r.QueueName AND m.ConversationId = r.ConversationId AND m.SequenceNumber > 0), 0) AS Base
      FROM dbo.OffloadOutbox AS r
      WHERE r.OutboxId IN (`+in+`) AND r.OutboxState = N'pending' AND r.SequenceNumber = 0) AS s
  ON s.OutboxId = o.OutboxId
WHERE o.OutboxState = N'pending' AND o.SequenceNumber = 0`), a.args...))
	if isDuplicateKey(err) {
		return 0, fmt.Errorf("mssql: sequence outbox: another drainer took a number: %w", catalog.ErrConflict)
	}
	if isDeadlock(err) {
		return 0, fmt.Errorf("mssql: sequence outbox: chosen as a deadlock victim against another drainer: %w", catalog.ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("mssql: sequence outbox: %w", err)
	}
	return n, nil
}

// isDuplicateKey reports a unique key violation (2627 constraint, 2601
// index).
func isDuplicateKey(err error) bool {
	var me mssqldb.Error
	if errors.As(err, &me) && (me.Number == 2627 || me.Number == 2601) {
		return true
	}
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "duplicate key")
}

// isDeadlock reports error 1205: the statement was rolled back so that
// another one could go on (two drainers' updates crossing). Nothing it did
// remains; it may run again.
func isDeadlock(err error) bool {
	var me mssqldb.Error
	if errors.As(err, &me) && me.Number == 1205 {
		return true
	}
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "deadlock")
}

// ClaimOutbox implements catalog.Outbox. A claim chosen as a deadlock
// victim is ErrConflict: it changed nothing, and the next pass claims again.
func (d *DB) ClaimOutbox(ctx context.Context, p catalog.ClaimOutboxParams) ([]catalog.OutboxRow, error) {
	if err := dialect.CheckOutboxClaim(p); err != nil {
		return nil, err
	}
	if p.Limit > 0 {
		_, err := d.db.ExecContext(ctx, d.q(`
UPDATE dbo.OffloadOutbox SET ClaimToken = @p1, ClaimedUntil = @p2
WHERE OutboxId IN (
    SELECT TOP (@p5) o.OutboxId FROM dbo.OffloadOutbox AS o WITH (READPAST)
    WHERE o.OutboxState = N'pending' AND o.SequenceNumber > 0
      AND (o.ClaimedUntil IS NULL OR o.ClaimedUntil <= @p3)
      AND NOT EXISTS (SELECT 1 FROM dbo.OffloadOutbox AS e
          WHERE e.QueueName = o.QueueName AND e.ConversationId = o.ConversationId
            AND e.OutboxState = N'pending' AND e.SequenceNumber > 0 AND e.SequenceNumber < o.SequenceNumber
            AND e.ClaimedUntil > @p3 AND (e.ClaimToken IS NULL OR e.ClaimToken <> @p4))
    ORDER BY o.OutboxId)
  AND OutboxState = N'pending' AND (ClaimedUntil IS NULL OR ClaimedUntil <= @p3)`),
			p.Token, dt2(p.Until), dt2(p.Now), p.Token, p.Limit)
		if isDeadlock(err) {
			return nil, fmt.Errorf("mssql: claim outbox: %w", catalog.ErrConflict)
		}
		if err != nil {
			return nil, fmt.Errorf("mssql: claim outbox: %w", err)
		}
	}
	if _, err := d.db.ExecContext(ctx, d.q(`UPDATE dbo.OffloadOutbox SET ClaimedUntil = @p1
WHERE ClaimToken = @p2 AND OutboxState = N'pending' AND ClaimedUntil < @p1`), dt2(p.Until), p.Token); err != nil {
		return nil, fmt.Errorf("mssql: claim outbox: extend: %w", err)
	}
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT `+outboxRowCols+`,
    (SELECT MIN(h.SequenceNumber) FROM dbo.OffloadOutbox AS h
     WHERE h.QueueName = o.QueueName AND h.ConversationId = o.ConversationId
       AND h.OutboxState = N'pending' AND h.SequenceNumber > 0)
FROM dbo.OffloadOutbox AS o
WHERE o.ClaimToken = @p1 AND o.OutboxState = N'pending' AND o.SequenceNumber > 0
ORDER BY o.QueueName, o.ConversationId, o.SequenceNumber`), p.Token)
	if err != nil {
		return nil, fmt.Errorf("mssql: claim outbox: %w", err)
	}
	out, err := dialect.Collect(rows, func(sc dialect.Scanner) (catalog.OutboxRow, error) {
		var head int64
		r, err := scanOutboxRow(sc, &head)
		r.Head = head
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("mssql: claim outbox: %w", err)
	}
	return out, nil
}

// OutboxMessages implements catalog.Outbox.
func (d *DB) OutboxMessages(ctx context.Context, p catalog.OutboxMessagesParams) (map[int64]string, error) {
	out := make(map[int64]string, len(p.IDs))
	for _, batch := range dialect.Batches(p.IDs, dialect.OutboxBatch) {
		var a params
		rows, err := d.db.QueryContext(ctx, d.q("SELECT OutboxId, Message FROM dbo.OffloadOutbox WHERE OutboxId IN ("+a.list(anys(batch))+")"), a.args...)
		if err != nil {
			return nil, fmt.Errorf("mssql: outbox messages: %w", err)
		}
		if err := dialect.ScanIDText(rows, out); err != nil {
			return nil, fmt.Errorf("mssql: outbox messages: %w", err)
		}
	}
	return out, nil
}

// MarkOutboxSent implements catalog.Outbox. The queue message ids come in
// a VALUES list joined on OutboxId: a CASE of one WHEN a row, twice, cost
// the test engine ten times the update itself (docs/PERFORMANCE.md).
func (d *DB) MarkOutboxSent(ctx context.Context, p catalog.MarkOutboxSentParams) (int64, error) {
	var total int64
	for _, batch := range dialect.Chunks(p.Sent, dialect.OutboxBatch) {
		var a params
		vals := make([]string, len(batch))
		for i, s := range batch {
			vals[i] = "(" + a.add(s.ID) + ", " + a.add(s.QueueMessageID) + ")"
		}
		at, tok := a.add(dt2(p.Now)), a.add(p.Token)
		// A row already sent with the same queue message id is this mark
		// retried after its answer was lost: counted, its SentAt kept.
		n, err := affected(d.db.ExecContext(ctx, d.q(`
UPDATE o SET OutboxState = N'sent', QueueMessageId = v.QueueMessageId,
  SentAt = CASE WHEN o.OutboxState = N'sent' THEN o.SentAt ELSE `+at+` END,
  ClaimToken = NULL, ClaimedUntil = NULL, LastError = NULL
FROM dbo.OffloadOutbox AS o
JOIN (VALUES `+strings.Join(vals, ", ")+`) AS v (OutboxId, QueueMessageId) ON v.OutboxId = o.OutboxId
WHERE (o.ClaimToken = `+tok+` AND o.OutboxState = N'pending')
  OR (o.OutboxState = N'sent' AND o.QueueMessageId = v.QueueMessageId)`), a.args...))
		if err != nil {
			return total, fmt.Errorf("mssql: mark outbox sent: %w", err)
		}
		total += n
	}
	return total, nil
}

// RetryOutbox implements catalog.Outbox.
func (d *DB) RetryOutbox(ctx context.Context, r catalog.RetryOutboxParams) error {
	_, err := d.db.ExecContext(ctx, d.q(`
UPDATE dbo.OffloadOutbox SET Attempts = Attempts + 1, LastError = @p1, ClaimToken = NULL, ClaimedUntil = @p2
WHERE OutboxId = @p3 AND ClaimToken = @p4 AND OutboxState = N'pending'`),
		dialect.Truncate(r.Error, dialect.MaxErrorLen), dt2(r.RetryAt), r.ID, r.Token)
	if err != nil {
		return fmt.Errorf("mssql: retry outbox %d: %w", r.ID, err)
	}
	return nil
}

// ReleaseOutbox implements catalog.Outbox.
func (d *DB) ReleaseOutbox(ctx context.Context, p catalog.ReleaseOutboxParams) error {
	for _, batch := range dialect.Batches(p.IDs, dialect.OutboxBatch) {
		var a params
		in := a.list(anys(batch))
		_, err := d.db.ExecContext(ctx, d.q("UPDATE dbo.OffloadOutbox SET ClaimToken = NULL, ClaimedUntil = NULL WHERE OutboxId IN ("+
			in+") AND ClaimToken = "+a.add(p.Token)), a.args...)
		if err != nil {
			return fmt.Errorf("mssql: release outbox: %w", err)
		}
	}
	return nil
}

// PurgeOutbox implements catalog.Outbox.
func (d *DB) PurgeOutbox(ctx context.Context, p catalog.PurgeOutboxParams) (int64, error) {
	n, err := affected(d.db.ExecContext(ctx, d.q(`
DELETE FROM dbo.OffloadOutbox WHERE OutboxId IN (
    SELECT TOP (@p2) o.OutboxId FROM dbo.OffloadOutbox AS o
    WHERE o.OutboxState = N'sent' AND o.SentAt < @p1
      AND EXISTS (SELECT 1 FROM dbo.OffloadOutbox AS n
          WHERE n.QueueName = o.QueueName AND n.ConversationId = o.ConversationId AND n.SequenceNumber > o.SequenceNumber)
    ORDER BY o.OutboxId)`), dt2(p.Before), p.Limit))
	if err != nil {
		return 0, fmt.Errorf("mssql: purge outbox: %w", err)
	}
	return n, nil
}

// OutboxStatus implements catalog.Outbox with queries/outbox-status.sql,
// the query the README gives DBAs.
func (d *DB) OutboxStatus(ctx context.Context) ([]catalog.OutboxCount, error) {
	rows, err := d.db.QueryContext(ctx, d.q(outboxStatusSQL))
	if err != nil {
		return nil, fmt.Errorf("mssql: outbox status: %w", err)
	}
	defer rows.Close()
	var out []catalog.OutboxCount
	for rows.Next() {
		var c catalog.OutboxCount
		var state string
		var oldest sql.NullTime
		var age sql.NullInt64
		if err := rows.Scan(&c.Queue, &state, &c.Rows, &oldest, &age); err != nil {
			return nil, fmt.Errorf("mssql: outbox status: %w", err)
		}
		c.State, c.Oldest = catalog.OutboxState(state), utc(oldest)
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
