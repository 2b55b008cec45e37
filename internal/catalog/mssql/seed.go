package mssql

import (
	"context"
	"database/sql"
	"fmt"
	"io"

	"github.com/hartonomous/offload/internal/catalog"
)

// The Seeder sends a payload as one varbinary(max) parameter, so it holds
// one payload in memory while it seeds (demo data and tests only: the
// production read path, OpenPayload, is chunked). It cannot append in
// chunks portably: SQL Server's in-place append (.WRITE) is not on every
// engine that speaks T-SQL, and "RawPayload + @chunk" rewrites the whole
// value each time on SQL Server (O(n²)) and is no concatenation at all on
// Babelfish, which adds varbinary values as integers. See docs/TSQL.md.

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

// InsertSegment implements catalog.Seeder (see above: one payload in memory).
func (d *DB) InsertSegment(ctx context.Context, s catalog.NewSegment) (int64, error) {
	payload, err := readPayload(s.Payload, s.Size)
	if err != nil {
		return 0, fmt.Errorf("mssql: insert segment %d of layer %d: %w", s.SegmentOrdinal, s.LayerID, err)
	}
	id, err := insertID(ctx, d.db, d.q(`
INSERT INTO dbo.LayerTensorSegments (LayerId, SegmentOrdinal, PointOffset, PointCount, QuantizationType, RawPayload)
VALUES (@p1, @p2, @p3, @p4, @p5, @p6)`),
		s.LayerID, s.SegmentOrdinal, s.PointOffset, s.PointCount, s.QuantizationType, payload)
	if err != nil {
		return 0, fmt.Errorf("mssql: insert segment %d of layer %d: %w", s.SegmentOrdinal, s.LayerID, err)
	}
	return id, nil
}

// OverwritePayload implements catalog.Seeder. Offload's bookkeeping is left
// as it is: this simulates the source changing behind Offload's back.
func (d *DB) OverwritePayload(ctx context.Context, p catalog.OverwritePayloadParams) error {
	b, err := readPayload(p.Payload, p.Size)
	if err != nil {
		return fmt.Errorf("mssql: overwrite payload %d: %w", p.ID, err)
	}
	n, err := affected(d.db.ExecContext(ctx, d.q("UPDATE dbo.LayerTensorSegments SET RawPayload = @p1 WHERE LayerTensorSegmentId = @p2"), b, p.ID))
	if err != nil {
		return fmt.Errorf("mssql: overwrite payload %d: %w", p.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("mssql: overwrite payload %d: %w", p.ID, catalog.ErrNotFound)
	}
	return nil
}

// readPayload reads exactly size bytes of src (a nil src is empty).
func readPayload(src io.Reader, size int64) ([]byte, error) {
	if size < 0 || size > maxPayload {
		return nil, fmt.Errorf("size %d outside 0..%d", size, int64(maxPayload))
	}
	if src == nil {
		src = eofReader{}
	}
	b := make([]byte, size)
	if got, err := io.ReadFull(src, b); err != nil {
		return nil, fmt.Errorf("payload shorter than its declared size %d: got %d bytes: %w", size, got, err)
	}
	var one [1]byte
	if n, _ := io.ReadFull(src, one[:]); n > 0 {
		return nil, fmt.Errorf("payload longer than its declared size %d", size)
	}
	return b, nil
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
