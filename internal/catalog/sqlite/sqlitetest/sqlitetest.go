// Package sqlitetest gives tests a fresh embedded catalog. It is a package
// of its own so that the production binary, which imports sqlite, does not
// link the testing package through it.
package sqlitetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/sqlite"
)

// Open returns an empty catalog in the test's temporary directory with the
// schema applied (the Hartonomous tables and Offload's columns), closed
// when the test ends. The test fails if either step fails.
func Open(tb testing.TB) *sqlite.DB {
	tb.Helper()
	db, _ := OpenPath(tb)
	return db
}

// OpenPath is Open and the path of its file, for a test that opens a
// second handle on it (as a second process would).
func OpenPath(tb testing.TB) (*sqlite.DB, string) {
	tb.Helper()
	ctx := context.Background()
	path := filepath.Join(tb.TempDir(), "catalog.db")
	db, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		tb.Fatalf("open catalog: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Apply(ctx, catalog.ApplyParams{}); err != nil {
		tb.Fatalf("apply schema: %v", err)
	}
	return db, path
}
