package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/internal/dialect"
)

// hasFile selects the atoms that have a file (catalog.Atom).
const hasFile = "(PayloadLocator IS NOT NULL OR BlobUri IS NOT NULL OR Modality = 'model')"

// ListAtoms implements catalog.Catalog.
func (d *DB) ListAtoms(ctx context.Context, f catalog.AtomFilter) ([]catalog.Atom, error) {
	if err := dialect.CheckAtomFilter(f); err != nil {
		return nil, err
	}
	where := []string{hasFile, "AtomId > ?"}
	args := []any{f.AfterID}
	if f.Modality != "" {
		where, args = append(where, "Modality = ?"), append(args, f.Modality)
	}
	if f.LinkedOnly {
		where = append(where, "BlobUri IS NOT NULL")
	}
	if f.UnlinkedOnly {
		where = append(where, "BlobUri IS NULL")
	}
	if !f.VerifiedBefore.IsZero() {
		where, args = append(where, "(VerifiedAt IS NULL OR VerifiedAt < ?)"), append(args, ts(f.VerifiedBefore))
	}
	args = append(args, f.Limit)
	rows, err := d.db.QueryContext(ctx, `
SELECT AtomId, ContentHash, Modality, SourceType, PayloadLocator,
  BlobUri, BlobContainer, BlobName, BlobSizeBytes, BlobETag, BlobLastModified, VerifiedAt, VerifyResult
FROM Atoms WHERE `+strings.Join(where, " AND ")+` ORDER BY AtomId LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list atoms: %w", err)
	}
	defer rows.Close()
	var out []catalog.Atom
	for rows.Next() {
		var a catalog.Atom
		var src, loc, uri, cont, name, etag, lastMod, verAt, res sql.NullString
		var size sql.NullInt64
		if err := rows.Scan(&a.ID, &a.ContentHash, &a.Modality, &src, &loc,
			&uri, &cont, &name, &size, &etag, &lastMod, &verAt, &res); err != nil {
			return nil, fmt.Errorf("sqlite: list atoms: %w", err)
		}
		a.SourceType, a.PayloadLocator = src.String, loc.String
		a.BlobURI, a.BlobContainer, a.BlobName, a.BlobSizeBytes, a.BlobETag = uri.String, cont.String, name.String, size.Int64, etag.String
		a.VerifyResult = res.String
		if a.BlobLastModified, err = parseTime(lastMod); err != nil {
			return nil, err
		}
		if a.VerifiedAt, err = parseTime(verAt); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list atoms: %w", err)
	}
	return out, nil
}

// LinkAtom implements catalog.Catalog. PayloadLocator is not touched; the
// update applies only while it still equals p.ExpectLocator.
func (d *DB) LinkAtom(ctx context.Context, p catalog.LinkAtomParams) error {
	if p.BlobURI == "" {
		return fmt.Errorf("sqlite: link atom %d: empty BlobURI", p.ID)
	}
	n, err := affected(d.db.ExecContext(ctx, `
UPDATE Atoms SET BlobUri = ?, BlobContainer = ?, BlobName = ?, BlobSizeBytes = ?, BlobETag = ?, BlobLastModified = ?
WHERE AtomId = ? AND coalesce(PayloadLocator, '') = ?`,
		p.BlobURI, str(p.BlobContainer), str(p.BlobName), p.BlobSizeBytes, str(p.BlobETag), ts(p.BlobLastModified), p.ID, p.ExpectLocator))
	if err != nil {
		return fmt.Errorf("sqlite: link atom %d: %w", p.ID, err)
	}
	if n == 0 {
		found, err := exists(ctx, d.db, "Atoms", "AtomId", p.ID)
		switch {
		case err != nil:
			return fmt.Errorf("sqlite: link atom %d: %w", p.ID, err)
		case found:
			return fmt.Errorf("sqlite: link atom %d: PayloadLocator changed: %w", p.ID, catalog.ErrConflict)
		default:
			return fmt.Errorf("sqlite: link atom %d: %w", p.ID, catalog.ErrNotFound)
		}
	}
	return nil
}

// RecordAtomVerified implements catalog.Catalog.
func (d *DB) RecordAtomVerified(ctx context.Context, p catalog.RecordAtomVerifiedParams) error {
	n, err := affected(d.db.ExecContext(ctx, "UPDATE Atoms SET VerifiedAt = ?, VerifyResult = ? WHERE AtomId = ?",
		ts(p.Now), dialect.Truncate(p.Result, dialect.MaxResultLen), p.ID))
	if err != nil {
		return fmt.Errorf("sqlite: record atom verified %d: %w", p.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: record atom verified %d: %w", p.ID, catalog.ErrNotFound)
	}
	return nil
}

// AtomStatus implements catalog.Catalog.
func (d *DB) AtomStatus(ctx context.Context) ([]catalog.AtomStatusRow, error) {
	rows, err := d.db.QueryContext(ctx, `
SELECT Modality, count(*),
  count(BlobUri),
  coalesce(sum(CASE WHEN BlobUri IS NOT NULL AND VerifyResult = 'ok' THEN 1 ELSE 0 END), 0),
  coalesce(sum(CASE WHEN BlobUri IS NOT NULL AND VerifyResult <> 'ok' THEN 1 ELSE 0 END), 0),
  coalesce(sum(CASE WHEN BlobUri IS NOT NULL THEN BlobSizeBytes ELSE 0 END), 0)
FROM Atoms WHERE `+hasFile+` GROUP BY Modality ORDER BY Modality`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: atom status: %w", err)
	}
	out, err := dialect.Collect(rows, dialect.ScanAtomStatus)
	if err != nil {
		return nil, fmt.Errorf("sqlite: atom status: %w", err)
	}
	return out, nil
}
