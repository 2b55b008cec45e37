package dialect

import (
	"database/sql"

	"github.com/hartonomous/offload/internal/catalog"
)

// Scanner is what a row scanner reads from: *sql.Rows or *sql.Row. An
// alias, so that a dialect's scanSegment(interface{ Scan(...any) error })
// is a func(Scanner) as it is.
type Scanner = interface{ Scan(dest ...any) error }

// Collect scans every row of rows with scan, in order, and closes rows.
// The first error, of a scan or of the result set, ends it.
func Collect[T any](rows *sql.Rows, scan func(Scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Strings collects a one-column text result set (names from a catalog
// view or pragma) and closes rows.
func Strings(rows *sql.Rows) ([]string, error) {
	return Collect(rows, func(sc Scanner) (string, error) {
		var s string
		err := sc.Scan(&s)
		return s, err
	})
}

// ScanAtomStatus scans a row of AtomStatus: Modality, Atoms, Linked,
// Verified, Failed, Bytes.
func ScanAtomStatus(sc Scanner) (catalog.AtomStatusRow, error) {
	var r catalog.AtomStatusRow
	err := sc.Scan(&r.Modality, &r.Atoms, &r.Linked, &r.Verified, &r.Failed, &r.Bytes)
	return r, err
}
