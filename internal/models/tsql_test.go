package models

import (
	"context"
	"testing"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/mssql"
	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
)

// openTSQL is a fresh database on MSSQL_TEST_DSN holding the Hartonomous
// tables and Offload's schema (the test skips without a DSN).
func openTSQL(tb testing.TB) catalog.Catalog {
	tb.Helper()
	dsn := mssqltest.Database(tb)
	ctx := context.Background()
	db, err := mssql.Open(ctx, dsn, mssql.Options{})
	if err != nil {
		tb.Fatal(mssql.Redact(err, dsn))
	}
	tb.Cleanup(func() { db.Close() })
	if err := db.PrepareSeed(ctx); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.Apply(ctx, catalog.ApplyParams{}); err != nil {
		tb.Fatal(err)
	}
	return db
}

// TestLocatorsOnTSQL: the locator cases with the catalog on a T-SQL engine
// (ContentHash not the file's digest, a locator that is not content-named,
// two atoms on one file, a lying name, every atom accounted for).
func TestLocatorsOnTSQL(t *testing.T) {
	mssqltest.DSN(t)
	for _, c := range locatorCases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, openTSQL) })
	}
}
