package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/internal/dialect"
)

// maxPayload is SQLITE_MAX_LENGTH, the largest value SQLite stores.
const maxPayload = 1_000_000_000

// writeChunk is how much of a payload InsertSegment and OverwritePayload
// hold in memory at once.
const writeChunk = 1 << 20

// OpenPayload implements catalog.Catalog with incremental blob I/O inside a
// read transaction held on a connection of its own: each Read copies at most
// chunk bytes of the snapshot, and memory stays at one chunk whatever the
// payload size. Writers on other connections proceed (WAL) without
// disturbing the snapshot.
func (d *DB) OpenPayload(ctx context.Context, p catalog.OpenPayloadParams) (catalog.PayloadReader, error) {
	if err := dialect.CheckChunk(p.ID, p.Chunk); err != nil {
		return nil, err
	}
	c, err := d.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open payload %d: %w", p.ID, err)
	}
	r := &payloadReader{ctx: ctx, c: c, id: p.ID, chunk: p.Chunk}
	if err := r.open(ctx, d.hasPayload.Load()); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

type payloadReader struct {
	ctx   context.Context
	c     *sql.Conn
	id    int64
	chunk int

	mu     sync.Mutex
	inTx   bool
	h      handle  // valid while blob != 0
	blob   uintptr // sqlite3_blob*, 0 for an empty or dropped payload
	buf    uintptr // C buffer of min(chunk, size) bytes
	size   int64
	off    int64
	closed bool
}

func (r *payloadReader) open(ctx context.Context, hasPayload bool) error {
	if _, err := r.c.ExecContext(ctx, "BEGIN"); err != nil {
		return fmt.Errorf("sqlite: open payload %d: %w", r.id, err)
	}
	r.inTx = true
	// This first read starts the snapshot the blob handle then reads from.
	// After Finalize there is no RawPayload: every payload reads as empty.
	kindExpr := "typeof(RawPayload)"
	if !hasPayload {
		kindExpr = "'null'"
	}
	var kind string
	err := r.c.QueryRowContext(ctx, "SELECT "+kindExpr+
		" FROM LayerTensorSegments WHERE LayerTensorSegmentId = ?", r.id).Scan(&kind)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: open payload %d: %w", r.id, catalog.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlite: open payload %d: %w", r.id, err)
	}
	if kind == "null" {
		return nil // dropped by Finalize (or NULL): an empty payload
	}
	return r.c.Raw(func(dc any) error {
		h, err := rawHandle(dc)
		if err != nil {
			return err
		}
		blob, err := h.blobOpen("LayerTensorSegments", "RawPayload", r.id, false)
		if err != nil {
			return fmt.Errorf("sqlite: open payload %d: %w", r.id, err)
		}
		r.h, r.blob, r.size = h, blob, h.blobBytes(blob)
		if r.size > 0 {
			if r.buf, err = h.malloc(int(min(int64(r.chunk), r.size))); err != nil {
				return err
			}
		}
		return nil
	})
}

// Size implements catalog.PayloadReader.
func (r *payloadReader) Size() int64 { return r.size }

// Read implements io.Reader: at most chunk bytes per call.
func (r *payloadReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, fmt.Errorf("sqlite: payload %d: read after close", r.id)
	}
	if r.off >= r.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	n := int(min(int64(len(p)), int64(r.chunk), r.size-r.off))
	err := r.c.Raw(func(any) error { return r.h.blobRead(r.blob, r.buf, n, r.off) })
	if aborted(err) {
		return 0, fmt.Errorf("sqlite: payload %d: row changed while reading: %w", r.id, catalog.ErrConflict)
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: payload %d: %w", r.id, err)
	}
	copy(p, cbytes(r.buf, n))
	r.off += int64(n)
	return n, nil
}

// Close ends the snapshot and gives the connection back. It never leaves
// the connection inside a transaction, even when the reader's context is
// done.
func (r *payloadReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var err error
	if r.blob != 0 || r.buf != 0 {
		err = r.c.Raw(func(any) error {
			r.h.free(r.buf)
			r.buf = 0
			e := r.h.blobClose(r.blob)
			r.blob = 0
			return e
		})
	}
	if r.inTx {
		endTx(r.c, "ROLLBACK")
	}
	if cerr := r.c.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sqlite: close payload %d: %w", r.id, err)
	}
	return nil
}

// writePayload streams size bytes from src into the RawPayload of row id,
// which the caller has just set to zeroblob(size) inside its transaction on
// c. A source shorter or longer than size is an error (the caller rolls
// back).
func writePayload(c *sql.Conn, id int64, src io.Reader, size int64) error {
	if size == 0 {
		if extraByte(src) {
			return errors.New("payload longer than its declared size 0")
		}
		return nil
	}
	return c.Raw(func(dc any) error {
		h, err := rawHandle(dc)
		if err != nil {
			return err
		}
		blob, err := h.blobOpen("LayerTensorSegments", "RawPayload", id, true)
		if err != nil {
			return err
		}
		defer func() {
			if blob != 0 {
				h.blobClose(blob)
			}
		}()
		n := int(min(size, writeChunk))
		buf, err := h.malloc(n)
		if err != nil {
			return err
		}
		defer h.free(buf)
		// src writes straight into the C buffer: no Go-side copy of the
		// payload at all.
		view := cbytes(buf, n)
		for off := int64(0); off < size; {
			k := int(min(int64(n), size-off))
			got, err := io.ReadFull(src, view[:k])
			if err != nil {
				return fmt.Errorf("payload shorter than its declared size %d: got %d bytes: %w", size, off+int64(got), err)
			}
			if err := h.blobWrite(blob, buf, k, off); err != nil {
				return err
			}
			off += int64(k)
		}
		if extraByte(src) {
			return fmt.Errorf("payload longer than its declared size %d", size)
		}
		b := blob
		blob = 0
		return h.blobClose(b)
	})
}

func checkSize(size int64) error {
	if size < 0 || size > maxPayload {
		return fmt.Errorf("payload size %d outside 0..%d (SQLite's largest value; use SQL Server for bigger payloads)", size, maxPayload)
	}
	return nil
}
