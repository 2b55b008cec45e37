package tsqlviews_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/mssql"
	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
	"github.com/hartonomous/offload/internal/cutover"
	"github.com/hartonomous/offload/internal/cutover/tsqlviews"
)

// setup returns a throwaway database on the MSSQL_TEST_DSN engine (the
// test skips without one) holding the Hartonomous tables, Offload's schema
// and dbo.usp_PublishMessage.
func setup(t *testing.T) *sql.DB {
	t.Helper()
	db := mssqltest.Catalog(t)
	if _, err := db.ApplyProcs(context.Background(), catalog.ApplyParams{}); err != nil {
		t.Fatal(err)
	}
	return db.SQL()
}

// emptyDatabase is a throwaway database with nothing in it.
func emptyDatabase(t *testing.T) *sql.DB {
	t.Helper()
	dsn := mssqltest.Database(t)
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(mssql.Redact(err, dsn))
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func assess(t *testing.T, db *sql.DB, queues map[string]string) cutover.Report {
	t.Helper()
	v := tsqlviews.New(db)
	r, err := cutover.Assess(context.Background(), v, cutover.Options{ServiceQueues: queues})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("catalog views this engine lacks: %v", v.Missing)
	return r
}

func exec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}
