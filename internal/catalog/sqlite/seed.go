package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io"

	"github.com/hartonomous/offload/internal/catalog"
)

// InsertModel implements catalog.Seeder.
func (d *DB) InsertModel(ctx context.Context, m catalog.NewModel) (int64, error) {
	id, err := lastID(d.db.ExecContext(ctx, "INSERT INTO Models (ModelName, ModelType) VALUES (?, ?)", m.Name, m.Type))
	if err != nil {
		return 0, fmt.Errorf("sqlite: insert model %q: %w", m.Name, err)
	}
	return id, nil
}

// InsertLayer implements catalog.Seeder.
func (d *DB) InsertLayer(ctx context.Context, l catalog.NewLayer) (int64, error) {
	id, err := lastID(d.db.ExecContext(ctx,
		"INSERT INTO ModelLayers (ModelId, LayerIdx, LayerName, QuantizationType) VALUES (?, ?, ?, ?)",
		l.ModelID, l.LayerIdx, str(l.LayerName), str(l.QuantizationType)))
	if err != nil {
		return 0, fmt.Errorf("sqlite: insert layer %d of model %d: %w", l.LayerIdx, l.ModelID, err)
	}
	return id, nil
}

// InsertSegment implements catalog.Seeder. The row is inserted with
// zeroblob(Size) and the payload streamed in with incremental blob I/O in one
// transaction, so seeding a large payload needs one small buffer.
func (d *DB) InsertSegment(ctx context.Context, s catalog.NewSegment) (int64, error) {
	if err := checkSize(s.Size); err != nil {
		return 0, fmt.Errorf("sqlite: insert segment: %w", err)
	}
	payload := s.Payload
	if payload == nil {
		payload = eofReader{}
	}
	var id int64
	err := d.inTx(ctx, "IMMEDIATE", func(c *sql.Conn) error {
		var err error
		id, err = lastID(c.ExecContext(ctx, `
INSERT INTO LayerTensorSegments (LayerId, SegmentOrdinal, PointOffset, PointCount, QuantizationType, RawPayload)
VALUES (?, ?, ?, ?, ?, zeroblob(?))`,
			s.LayerID, s.SegmentOrdinal, s.PointOffset, s.PointCount, s.QuantizationType, s.Size))
		if err != nil {
			return err
		}
		return writePayload(c, id, payload, s.Size)
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: insert segment %d of layer %d: %w", s.SegmentOrdinal, s.LayerID, err)
	}
	return id, nil
}

// OverwritePayload implements catalog.Seeder. Offload's bookkeeping is left
// as it is: this simulates the source changing behind Offload's back.
func (d *DB) OverwritePayload(ctx context.Context, p catalog.OverwritePayloadParams) error {
	if err := checkSize(p.Size); err != nil {
		return fmt.Errorf("sqlite: overwrite payload %d: %w", p.ID, err)
	}
	if p.Payload == nil {
		p.Payload = eofReader{}
	}
	err := d.inTx(ctx, "IMMEDIATE", func(c *sql.Conn) error {
		n, err := affected(c.ExecContext(ctx,
			"UPDATE LayerTensorSegments SET RawPayload = zeroblob(?) WHERE LayerTensorSegmentId = ?", p.Size, p.ID))
		if err != nil {
			return err
		}
		if n == 0 {
			return catalog.ErrNotFound
		}
		return writePayload(c, p.ID, p.Payload, p.Size)
	})
	if err != nil {
		return fmt.Errorf("sqlite: overwrite payload %d: %w", p.ID, err)
	}
	return nil
}

// InsertAtom implements catalog.Seeder.
func (d *DB) InsertAtom(ctx context.Context, a catalog.NewAtom) (int64, error) {
	id, err := lastID(d.db.ExecContext(ctx,
		"INSERT INTO Atoms (ContentHash, Modality, SourceType, PayloadLocator, Metadata) VALUES (?, ?, ?, ?, ?)",
		a.ContentHash, a.Modality, str(a.SourceType), str(a.PayloadLocator), str(a.Metadata)))
	if err != nil {
		return 0, fmt.Errorf("sqlite: insert atom: %w", err)
	}
	return id, nil
}

func lastID(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
