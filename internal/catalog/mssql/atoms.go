package mssql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/internal/dialect"
)

// hasFile selects the atoms that have a file (catalog.Atom).
const hasFile = "(PayloadLocator IS NOT NULL OR BlobUri IS NOT NULL OR Modality = N'model')"

// ListAtoms implements catalog.Catalog.
func (d *DB) ListAtoms(ctx context.Context, f catalog.AtomFilter) ([]catalog.Atom, error) {
	if err := dialect.CheckAtomFilter(f); err != nil {
		return nil, err
	}
	var p params
	top := p.add(f.Limit)
	where := []string{hasFile, "AtomId > " + p.add(f.AfterID)}
	if f.Modality != "" {
		where = append(where, "Modality = "+p.add(f.Modality))
	}
	if f.LinkedOnly {
		where = append(where, "BlobUri IS NOT NULL")
	}
	if f.UnlinkedOnly {
		where = append(where, "BlobUri IS NULL")
	}
	if !f.VerifiedBefore.IsZero() {
		where = append(where, "(VerifiedAt IS NULL OR VerifiedAt < "+p.add(dt(f.VerifiedBefore))+")")
	}
	rows, err := d.db.QueryContext(ctx, d.q(`
SELECT TOP (`+top+`) AtomId, ContentHash, Modality, SourceType, PayloadLocator,
  BlobUri, BlobContainer, BlobName, BlobSizeBytes, BlobETag, BlobLastModified, VerifiedAt, VerifyResult
FROM dbo.Atoms WHERE `+strings.Join(where, " AND ")+` ORDER BY AtomId`), p.args...)
	if err != nil {
		return nil, fmt.Errorf("mssql: list atoms: %w", err)
	}
	defer rows.Close()
	var out []catalog.Atom
	for rows.Next() {
		var a catalog.Atom
		var src, loc, uri, cont, name, etag, res sql.NullString
		var size sql.NullInt64
		var lastMod, verAt sql.NullTime
		if err := rows.Scan(&a.ID, &a.ContentHash, &a.Modality, &src, &loc,
			&uri, &cont, &name, &size, &etag, &lastMod, &verAt, &res); err != nil {
			return nil, fmt.Errorf("mssql: list atoms: %w", err)
		}
		a.SourceType, a.PayloadLocator = src.String, loc.String
		a.BlobURI, a.BlobContainer, a.BlobName, a.BlobSizeBytes, a.BlobETag = uri.String, cont.String, name.String, size.Int64, etag.String
		a.BlobLastModified, a.VerifiedAt, a.VerifyResult = utc(lastMod), utc(verAt), res.String
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mssql: list atoms: %w", err)
	}
	return out, nil
}

// LinkAtom implements catalog.Catalog. PayloadLocator is not touched; the
// update applies only while it still equals p.ExpectLocator.
func (d *DB) LinkAtom(ctx context.Context, p catalog.LinkAtomParams) error {
	if p.BlobURI == "" {
		return fmt.Errorf("mssql: link atom %d: empty BlobURI", p.ID)
	}
	n, err := affected(d.db.ExecContext(ctx, d.q(`
UPDATE dbo.Atoms SET BlobUri = @p1, BlobContainer = @p2, BlobName = @p3, BlobSizeBytes = @p4, BlobETag = @p5, BlobLastModified = @p6
WHERE AtomId = @p7 AND ISNULL(PayloadLocator, N'') = @p8`),
		p.BlobURI, nstr(p.BlobContainer), nstr(p.BlobName), p.BlobSizeBytes, nstr(p.BlobETag), dt(p.BlobLastModified), p.ID, p.ExpectLocator))
	if err != nil {
		return fmt.Errorf("mssql: link atom %d: %w", p.ID, err)
	}
	if n == 0 {
		var one int
		err := d.db.QueryRowContext(ctx, d.q("SELECT 1 FROM dbo.Atoms WHERE AtomId = @p1"), p.ID).Scan(&one)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("mssql: link atom %d: %w", p.ID, catalog.ErrNotFound)
		case err != nil:
			return fmt.Errorf("mssql: link atom %d: %w", p.ID, err)
		default:
			return fmt.Errorf("mssql: link atom %d: PayloadLocator changed: %w", p.ID, catalog.ErrConflict)
		}
	}
	return nil
}

// RecordAtomVerified implements catalog.Catalog.
func (d *DB) RecordAtomVerified(ctx context.Context, p catalog.RecordAtomVerifiedParams) error {
	n, err := affected(d.db.ExecContext(ctx, d.q("UPDATE dbo.Atoms SET VerifiedAt = @p1, VerifyResult = @p2 WHERE AtomId = @p3"),
		dt(p.Now), dialect.Truncate(p.Result, dialect.MaxResultLen), p.ID))
	if err != nil {
		return fmt.Errorf("mssql: record atom verified %d: %w", p.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("mssql: record atom verified %d: %w", p.ID, catalog.ErrNotFound)
	}
	return nil
}

// AtomStatus implements catalog.Catalog.
func (d *DB) AtomStatus(ctx context.Context) ([]catalog.AtomStatusRow, error) {
	rows, err := d.db.QueryContext(ctx, d.q(`
SELECT Modality, COUNT_BIG(*),
  COUNT_BIG(BlobUri),
  ISNULL(SUM(CASE WHEN BlobUri IS NOT NULL AND VerifyResult = N'ok' THEN CAST(1 AS bigint) ELSE 0 END), 0),
  ISNULL(SUM(CASE WHEN BlobUri IS NOT NULL AND VerifyResult <> N'ok' THEN CAST(1 AS bigint) ELSE 0 END), 0),
  ISNULL(SUM(CASE WHEN BlobUri IS NOT NULL THEN BlobSizeBytes ELSE 0 END), 0)
FROM dbo.Atoms WHERE `+hasFile+` GROUP BY Modality ORDER BY Modality`))
	if err != nil {
		return nil, fmt.Errorf("mssql: atom status: %w", err)
	}
	out, err := dialect.Collect(rows, dialect.ScanAtomStatus)
	if err != nil {
		return nil, fmt.Errorf("mssql: atom status: %w", err)
	}
	return out, nil
}
