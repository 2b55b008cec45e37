package mssql

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/internal/dialect"
	"github.com/hartonomous/offload/internal/catalog/internal/retry"
	mssqldb "github.com/microsoft/go-mssqldb"
)

var _ retry.Resumer = (*payloadReader)(nil)

// Isolation for payload reads (Options.PayloadIsolation).
const (
	// IsolationAuto reads under SNAPSHOT and falls back to READ COMMITTED
	// the first time the database refuses SNAPSHOT (error 3952).
	IsolationAuto = ""
	// IsolationSnapshot always reads under SNAPSHOT.
	IsolationSnapshot = "snapshot"
	// IsolationReadCommitted always reads chunk by chunk at READ COMMITTED.
	IsolationReadCommitted = "read-committed"
)

// errSnapshotNotAllowed is SQL Server's "snapshot isolation is not allowed
// in this database" (ALLOW_SNAPSHOT_ISOLATION OFF).
const errSnapshotNotAllowed = 3952

// OpenPayload implements catalog.Catalog: DATALENGTH first, then one
// SUBSTRING query per chunk, all inside one read transaction on a
// connection of its own.
//
// Why SNAPSHOT: every chunk must come from the same version of the row, and
// the read must not lock it. Under REPEATABLE READ the shared lock of the
// first read is held until the upload ends, so the migrating worker's own
// claim renewal (an UPDATE of the same row from another connection) and any
// application write to the row wait behind it for minutes. A SNAPSHOT
// transaction reads the row version as of its start from the version store
// and takes no shared locks: writers proceed, the reader is not torn.
// Azure SQL Database has ALLOW_SNAPSHOT_ISOLATION ON by default.
//
// Where the database refuses SNAPSHOT (SQL Server with
// ALLOW_SNAPSHOT_ISOLATION OFF, error 3952) the reader falls back to READ
// COMMITTED: each chunk reads the latest committed row and holds no lock
// between chunks. A concurrent rewrite of the payload can then tear the
// stream. A change of length is caught here (a short chunk is ErrConflict);
// a same-length rewrite is caught by the first verification, which hashes
// the source again before anything may be released. So the fallback can
// cost a re-migration, never a byte.
func (d *DB) OpenPayload(ctx context.Context, p catalog.OpenPayloadParams) (catalog.PayloadReader, error) {
	if err := dialect.CheckChunk(p.ID, p.Chunk); err != nil {
		return nil, err
	}
	level := sql.LevelSnapshot
	if d.isolation == IsolationReadCommitted || (d.isolation == IsolationAuto && d.noSnapshot.Load()) {
		level = sql.LevelReadCommitted
	}
	r, err := d.openPayload(ctx, p.ID, p.Chunk, level)
	var se mssqldb.Error
	if level == sql.LevelSnapshot && d.isolation == IsolationAuto && errors.As(err, &se) && se.Number == errSnapshotNotAllowed {
		d.noSnapshot.Store(true)
		d.log.Warn("payload reads fall back to READ COMMITTED: the database does not allow SNAPSHOT isolation (ALTER DATABASE … SET ALLOW_SNAPSHOT_ISOLATION ON to avoid it)")
		r, err = d.openPayload(ctx, p.ID, p.Chunk, sql.LevelReadCommitted)
	}
	return r, err
}

func (d *DB) openPayload(ctx context.Context, id int64, chunk int, level sql.IsolationLevel) (*payloadReader, error) {
	c, err := d.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("mssql: open payload %d: %w", id, err)
	}
	tx, err := c.BeginTx(ctx, &sql.TxOptions{Isolation: level})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("mssql: open payload %d: %w", id, err)
	}
	r := &payloadReader{ctx: ctx, c: c, tx: tx, id: id, chunk: chunk, d: d, level: level, sum: sha256.New(),
		query: d.q("SELECT SUBSTRING(RawPayload, @p1, @p2) FROM dbo.LayerTensorSegments WHERE LayerTensorSegmentId = @p3")}
	size := "DATALENGTH(RawPayload)"
	if !d.hasPayload.Load() {
		size = "CAST(NULL AS bigint)" // dropped by Finalize: every payload reads as empty
	}
	var n sql.NullInt64
	err = tx.QueryRowContext(ctx, d.q("SELECT "+size+" FROM dbo.LayerTensorSegments WHERE LayerTensorSegmentId = @p1"), id).Scan(&n)
	if err != nil {
		r.Close()
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("mssql: open payload %d: %w", id, catalog.ErrNotFound)
		}
		return nil, fmt.Errorf("mssql: open payload %d: %w", id, err)
	}
	r.size = n.Int64
	return r, nil
}

type payloadReader struct {
	ctx   context.Context
	c     *sql.Conn
	tx    *sql.Tx
	id    int64
	chunk int
	query string
	d     *DB
	level sql.IsolationLevel
	// sum hashes the bytes fetched so far, so that Resume can prove them
	// equal to the row's first off bytes on a new snapshot.
	sum hash.Hash

	mu      sync.Mutex
	size    int64
	off     int64  // bytes fetched from the server
	pending []byte // fetched, not yet returned
	buf     []byte // reused chunk buffer
	closed  bool
}

// Size implements catalog.PayloadReader.
func (r *payloadReader) Size() int64 { return r.size }

// Read implements io.Reader: at most chunk bytes per call, one query per
// chunk.
func (r *payloadReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, fmt.Errorf("mssql: payload %d: read after close", r.id)
	}
	if len(r.pending) == 0 {
		if r.off >= r.size {
			return 0, io.EOF
		}
		if len(p) == 0 {
			return 0, nil
		}
		if err := r.fetch(); err != nil {
			return 0, err
		}
	}
	n := copy(p[:min(len(p), r.chunk)], r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

func (r *payloadReader) fetch() error {
	want := min(int64(r.chunk), r.size-r.off)
	rows, err := r.tx.QueryContext(r.ctx, r.query, r.off+1, want, r.id) // SUBSTRING is 1-based
	if err != nil {
		return fmt.Errorf("mssql: payload %d at %d: %w", r.id, r.off, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return fmt.Errorf("mssql: payload %d at %d: %w", r.id, r.off, err)
		}
		return fmt.Errorf("mssql: payload %d: row vanished while reading: %w", r.id, catalog.ErrConflict)
	}
	var b sql.RawBytes // no second copy: the driver's buffer is copied once, into r.buf
	if err := rows.Scan(&b); err != nil {
		return fmt.Errorf("mssql: payload %d at %d: %w", r.id, r.off, err)
	}
	if int64(len(b)) != want {
		return fmt.Errorf("mssql: payload %d: got %d bytes at %d, want %d: row changed while reading: %w", r.id, len(b), r.off, want, catalog.ErrConflict)
	}
	if cap(r.buf) < len(b) {
		r.buf = make([]byte, r.chunk)
	}
	r.pending = r.buf[:copy(r.buf[:len(b)], b)]
	r.sum.Write(r.pending)
	r.off += want
	return rows.Close()
}

// Close ends the transaction and gives the
// connection back.
func (r *payloadReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.pending, r.buf = nil, nil
	err := r.tx.Rollback() // read-only: nothing to commit
	if errors.Is(err, sql.ErrTxDone) || errors.Is(err, sql.ErrConnDone) {
		err = nil // the context ended, or a failed Resume dropped the connection
	}
	// The isolation level of a TDS transaction sticks to the session: put
	// the pooled connection back to the default, or discard it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, rerr := r.c.ExecContext(ctx, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"); rerr != nil {
		_ = r.c.Raw(func(any) error { return driver.ErrBadConn })
	}
	if cerr := r.c.Close(); err == nil && !errors.Is(cerr, sql.ErrConnDone) {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("mssql: close payload %d: %w", r.id, err)
	}
	return nil
}

// Resume implements retry.Resumer: the connection of the read broke (a
// failover, a reset), so the reader takes a new connection and transaction
// at the same isolation and goes on from the offset it reached, but only
// once the server proves the row unchanged for this reader: the same
// DATALENGTH, and HASHBYTES of its first off bytes equal to the SHA-256 of
// the bytes already returned. A new transaction may see a newer row
// version; if that version starts with the same bytes and has the same
// length, what is returned is exactly that version's content (its prefix,
// then its rest). Otherwise catalog.ErrConflict: start over. The check
// reads the prefix once more on the server, never over the network.
func (r *payloadReader) Resume(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("mssql: payload %d: resume after close", r.id)
	}
	r.drop()
	c, err := r.d.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("mssql: resume payload %d at %d: %w", r.id, r.off, err)
	}
	tx, err := c.BeginTx(ctx, &sql.TxOptions{Isolation: r.level})
	if err != nil {
		c.Close()
		return fmt.Errorf("mssql: resume payload %d at %d: %w", r.id, r.off, err)
	}
	r.c, r.tx = c, tx
	var size sql.NullInt64
	var prefix []byte
	err = tx.QueryRowContext(ctx, r.d.q(`SELECT DATALENGTH(RawPayload),
  CASE WHEN @p2 = 0 THEN 0x ELSE HASHBYTES('SHA2_256', SUBSTRING(RawPayload, 1, @p2)) END
FROM dbo.LayerTensorSegments WHERE LayerTensorSegmentId = @p1`), r.id, r.off).Scan(&size, &prefix)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("mssql: resume payload %d: row vanished: %w", r.id, catalog.ErrConflict)
	case err != nil:
		return fmt.Errorf("mssql: resume payload %d at %d: %w", r.id, r.off, err)
	case size.Int64 != r.size || (r.off > 0 && !bytes.Equal(prefix, r.sum.Sum(nil))):
		return fmt.Errorf("mssql: resume payload %d at %d: the row changed since the read began (start over): %w", r.id, r.off, catalog.ErrConflict)
	}
	return nil
}

// drop abandons the current connection: rolled back if it still answers,
// and never given back to the pool.
func (r *payloadReader) drop() {
	_ = r.tx.Rollback()
	_ = r.c.Raw(func(any) error { return driver.ErrBadConn })
	_ = r.c.Close()
}
