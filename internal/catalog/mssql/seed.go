package mssql

import (
	"context"
	"database/sql"
	"fmt"
	"io"

	"github.com/hartonomous/offload/internal/catalog"
)

// The Seeder appends a payload in statements of growing size: the first
// carries minAppend bytes, each later one as many bytes as the row already
// holds, up to maxAppend. "RawPayload = RawPayload + @chunk" rewrites the
// value on every engine, so fixed chunks would cost O(n²) bytes written;
// doubling keeps it O(n) up to maxAppend while memory stays one chunk.
// (.WRITE would append in place on SQL Server, but not every engine that
// speaks T-SQL has it, and this is seeding, not a production path.)
const (
	minAppend = 1 << 20
	maxAppend = 32 << 20
)

// maxPayload is varbinary(max)'s limit.
const maxPayload = 1<<31 - 1

// insertID runs an INSERT followed by SELECT SCOPE_IDENTITY() in one batch
// (OUTPUT INSERTED would fail on tables with triggers).
func insertID(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, stmt string, args ...any) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, stmt+"; SELECT CAST(SCOPE_IDENTITY() AS bigint);", args...).Scan(&id)
	return id, err
}

// InsertModel implements catalog.Seeder.
func (d *DB) InsertModel(ctx context.Context, m catalog.NewModel) (int64, error) {
	id, err := insertID(ctx, d.db, d.q("INSERT INTO dbo.Models (ModelName, ModelType) VALUES (@p1, @p2)"), m.Name, m.Type)
	if err != nil {
		return 0, fmt.Errorf("mssql: insert model %q: %w", m.Name, err)
	}
	return id, nil
}

// InsertLayer implements catalog.Seeder.
func (d *DB) InsertLayer(ctx context.Context, l catalog.NewLayer) (int64, error) {
	id, err := insertID(ctx, d.db, d.q("INSERT INTO dbo.ModelLayers (ModelId, LayerIdx, LayerName, QuantizationType) VALUES (@p1, @p2, @p3, @p4)"),
		l.ModelID, l.LayerIdx, nstr(l.LayerName), nstr(l.QuantizationType))
	if err != nil {
		return 0, fmt.Errorf("mssql: insert layer %d of model %d: %w", l.LayerIdx, l.ModelID, err)
	}
	return id, nil
}

// InsertSegment implements catalog.Seeder: the row is inserted with an
// empty payload which is then appended to (appendPayload), in one
// transaction. The Seeder is for plain varbinary(max) test and demo
// databases.
func (d *DB) InsertSegment(ctx context.Context, s catalog.NewSegment) (int64, error) {
	if s.Size < 0 || s.Size > maxPayload {
		return 0, fmt.Errorf("mssql: insert segment: size %d outside 0..%d", s.Size, int64(maxPayload))
	}
	var id int64
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		id, err = insertID(ctx, tx, d.q(`
INSERT INTO dbo.LayerTensorSegments (LayerId, SegmentOrdinal, PointOffset, PointCount, QuantizationType, RawPayload)
VALUES (@p1, @p2, @p3, @p4, @p5, 0x)`),
			s.LayerID, s.SegmentOrdinal, s.PointOffset, s.PointCount, s.QuantizationType)
		if err != nil {
			return err
		}
		return d.appendPayload(ctx, tx, id, s.Payload, s.Size)
	})
	if err != nil {
		return 0, fmt.Errorf("mssql: insert segment %d of layer %d: %w", s.SegmentOrdinal, s.LayerID, err)
	}
	return id, nil
}

// OverwritePayload implements catalog.Seeder. Offload's bookkeeping is left
// as it is: this simulates the source changing behind Offload's back.
func (d *DB) OverwritePayload(ctx context.Context, id int64, payload io.Reader, size int64) error {
	if size < 0 || size > maxPayload {
		return fmt.Errorf("mssql: overwrite payload %d: size %d outside 0..%d", id, size, int64(maxPayload))
	}
	err := d.inTx(ctx, func(tx *sql.Tx) error {
		n, err := affected(tx.ExecContext(ctx, d.q("UPDATE dbo.LayerTensorSegments SET RawPayload = 0x WHERE LayerTensorSegmentId = @p1"), id))
		if err != nil {
			return err
		}
		if n == 0 {
			return catalog.ErrNotFound
		}
		return d.appendPayload(ctx, tx, id, payload, size)
	})
	if err != nil {
		return fmt.Errorf("mssql: overwrite payload %d: %w", id, err)
	}
	return nil
}

// appendPayload streams exactly size bytes of src onto RawPayload.
func (d *DB) appendPayload(ctx context.Context, tx *sql.Tx, id int64, src io.Reader, size int64) error {
	if src == nil {
		src = eofReader{}
	}
	stmt := d.q("UPDATE dbo.LayerTensorSegments SET RawPayload = RawPayload + @p1 WHERE LayerTensorSegmentId = @p2")
	var buf []byte
	for off := int64(0); off < size; {
		k := int(min(max(off, minAppend), maxAppend, size-off))
		if cap(buf) < k {
			buf = make([]byte, k)
		}
		got, err := io.ReadFull(src, buf[:k])
		if err != nil {
			return fmt.Errorf("payload shorter than its declared size %d: got %d bytes: %w", size, off+int64(got), err)
		}
		if _, err := tx.ExecContext(ctx, stmt, buf[:k], id); err != nil {
			return err
		}
		off += int64(k)
	}
	var one [1]byte
	if n, _ := io.ReadFull(src, one[:]); n > 0 {
		return fmt.Errorf("payload longer than its declared size %d", size)
	}
	return nil
}

// InsertAtom implements catalog.Seeder.
func (d *DB) InsertAtom(ctx context.Context, a catalog.NewAtom) (int64, error) {
	id, err := insertID(ctx, d.db, d.q(`
INSERT INTO dbo.Atoms (ContentHash, Modality, SourceType, PayloadLocator, Metadata) VALUES (@p1, @p2, @p3, @p4, @p5)`),
		a.ContentHash, a.Modality, nstr(a.SourceType), nstr(a.PayloadLocator), nstr(a.Metadata))
	if err != nil {
		return 0, fmt.Errorf("mssql: insert atom: %w", err)
	}
	return id, nil
}

// inTx runs f in a transaction, committing on success.
func (d *DB) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
