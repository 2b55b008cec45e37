// Package mssqltest gives tests a T-SQL engine: the server MSSQL_TEST_DSN
// names (SQL Server, Azure SQL, or any engine that speaks T-SQL over TDS).
// Without it, tests that need one skip and say so. It is a package of its
// own so that the production binary does not link the testing package.
package mssqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/mssql"
)

// Env names the connection string of the test engine.
const Env = "MSSQL_TEST_DSN"

// DSN returns MSSQL_TEST_DSN, or skips the test when it is unset.
func DSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		tb.Skipf("%s is not set: skipped (it needs a T-SQL engine; see README, make test-mssql)", Env)
	}
	return dsn
}

// Database creates a throwaway database on the MSSQL_TEST_DSN server and
// returns a connection string for it, in the same form as MSSQL_TEST_DSN.
// The database is dropped when the test ends (a failed drop is logged: the
// name says it is a test's). The login needs CREATE DATABASE.
func Database(tb testing.TB) string {
	tb.Helper()
	dsn, drop, err := CreateDatabase(DSN(tb), "offload_t_")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Log(err)
		}
	})
	return dsn
}

// CreateDatabase creates a database named prefix + a random suffix on the
// server dsn names and returns a connection string for it and the func
// that drops it.
func CreateDatabase(dsn, prefix string) (string, func() error, error) {
	var b [5]byte
	_, _ = rand.Read(b[:])
	name := prefix + hex.EncodeToString(b[:])
	if !regexp.MustCompile(`^[a-z_][a-z0-9_]{0,100}$`).MatchString(name) {
		return "", nil, fmt.Errorf("mssqltest: database name %q is not a plain identifier", name)
	}
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		return "", nil, fmt.Errorf("mssqltest: open: %w", mssql.Redact(err, dsn))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// name is checked above: a plain identifier, safe as text.
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("mssqltest: create database %s: %w", name, mssql.Redact(err, dsn))
	}
	drop := func() error {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE "+name); err != nil {
			return fmt.Errorf("mssqltest: drop database %s: %w", name, mssql.Redact(err, dsn))
		}
		return nil
	}
	out, err := WithDatabase(dsn, name)
	if err != nil {
		_ = drop()
		return "", nil, err
	}
	return out, drop, nil
}

// Catalog is a fresh database on the MSSQL_TEST_DSN server holding the
// Hartonomous tables (the demo's InitialBaseline shapes) and Offload's
// schema, closed and dropped when the test ends; the test skips without a
// DSN.
func Catalog(tb testing.TB) *mssql.DB {
	tb.Helper()
	db, _ := CatalogDSN(tb)
	return db
}

// CatalogDSN is Catalog and the connection string of its database, for a
// test that opens a second handle on it (a new connection pool, as a
// second process would).
func CatalogDSN(tb testing.TB) (*mssql.DB, string) {
	tb.Helper()
	dsn := Database(tb)
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
	return db, dsn
}

var adoDatabase = regexp.MustCompile(`(?i)(^|;)\s*(database|initial catalog)\s*=[^;]*`)

// WithDatabase returns dsn (a sqlserver:// URL or an ADO string) naming
// database name instead of its own.
func WithDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(strings.ToLower(dsn), "sqlserver://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("mssqltest: %s is not a URL", Env)
		}
		q := u.Query()
		q.Set("database", name)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	if adoDatabase.MatchString(dsn) {
		return adoDatabase.ReplaceAllString(dsn, "${1}database="+name), nil
	}
	return strings.TrimRight(dsn, ";") + ";database=" + name, nil
}

// SettleAutovacuum waits, on Babelfish, until PostgreSQL's autovacuum has
// vacuumed and analysed the rows a benchmark just seeded into table (its
// T-SQL name in dbo, any case). Left alone it does so at some moment in the
// next minute (autovacuum_naptime), inside whichever step is being timed,
// and on two cores it takes the CPU from Azurite and from the queries
// measured. SQL Server has no such background pass (statistics update
// synchronously, on the next query): there it returns at once. It waits at
// most 3 minutes and logs how long it waited.
func SettleAutovacuum(tb testing.TB, db *sql.DB, table string) {
	tb.Helper()
	ctx := context.Background()
	var version string
	if err := db.QueryRowContext(ctx, "SELECT @@VERSION").Scan(&version); err != nil {
		tb.Fatal(err)
	}
	if !strings.Contains(version, "Babelfish") {
		return
	}
	t0 := time.Now()
	for time.Since(t0) < 3*time.Minute {
		var ins, mod int64
		err := db.QueryRowContext(ctx, `SELECT n_ins_since_vacuum, n_mod_since_analyze FROM pg_catalog.pg_stat_user_tables
WHERE schemaname = DB_NAME() + '_dbo' AND relname = @p1`, strings.ToLower(table)).Scan(&ins, &mod)
		if err != nil {
			tb.Fatalf("autovacuum state of %s: %v", table, err)
		}
		if ins < 1000 && mod < 1000 { // below autovacuum's thresholds: nothing left for it to do
			tb.Logf("Babelfish autovacuum done with %s %v after seeding", table, time.Since(t0).Round(time.Second))
			return
		}
		time.Sleep(2 * time.Second)
	}
	tb.Logf("Babelfish autovacuum not done with %s 3m after seeding: the figures that follow may carry it", table)
}

// AfterProcsEnv names a T-SQL batch the tests run on a database after they
// create or alter procedures there, for an engine that needs telling
// (Babelfish 4.2.0: its (max) OUTPUT parameters need a mend after every
// ALTER PROCEDURE, BABEL-5059; docs/TSQL.md). Unset on SQL Server.
const AfterProcsEnv = "MSSQL_TEST_AFTER_PROCS"

// AfterProcs runs MSSQL_TEST_AFTER_PROCS on db, if set.
func AfterProcs(tb testing.TB, db *sql.DB) {
	tb.Helper()
	batch := os.Getenv(AfterProcsEnv)
	if batch == "" {
		return
	}
	if _, err := db.ExecContext(context.Background(), batch); err != nil {
		tb.Fatalf("%s: %v", AfterProcsEnv, err)
	}
}
