// Package mssql is the catalog on Azure SQL Database / SQL Server, through
// github.com/microsoft/go-mssqldb (driver "sqlserver"; "azuresql" for
// fedauth= connection strings, i.e. Entra ID / managed identity).
//
// The T-SQL is deliberately plain so that it runs on every supported
// engine and a DBA can read it: no MERGE, no updatable CTEs, values always
// bound as parameters (@p1, @p2, …), every state change a single
// conditional UPDATE. The Hartonomous tables are never created here: they
// exist in production; Apply only adds Offload's columns, constraints and
// index, each guarded by COL_LENGTH / OBJECT_ID / sys.indexes.
//
// Times are datetime2 in UTC, sent as datetime2 parameters (never
// datetimeoffset) and read back as UTC whatever the connection's time zone.
package mssql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-sql/civil"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/internal/dialect"
	"github.com/hartonomous/offload/internal/catalog/internal/retry"

	mssqldb "github.com/microsoft/go-mssqldb"   // driver "sqlserver"
	_ "github.com/microsoft/go-mssqldb/azuread" // driver "azuresql" (fedauth=)
)

// Options tune the SQL Server catalog. The zero value is ready to use.
type Options struct {
	// Logger receives schema changes; nil discards.
	Logger *slog.Logger
	// Schema holds the Hartonomous tables. Default "dbo". Tests use a
	// throwaway schema; it must be a plain identifier.
	Schema string
	// MaxOpenConns bounds the connection pool; 0 means 16.
	MaxOpenConns int
	// PayloadIsolation is how OpenPayload reads: IsolationAuto (SNAPSHOT,
	// falling back to READ COMMITTED where the database refuses it),
	// IsolationSnapshot or IsolationReadCommitted (tests force each).
	PayloadIsolation string
	// Retrier, when set, retries Open's first contact with the server (a
	// database that is failing over answers within a minute).
	Retrier *retry.Retrier
}

var reIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

func (o *Options) defaults() error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Schema == "" {
		o.Schema = "dbo"
	}
	if !reIdent.MatchString(o.Schema) {
		return fmt.Errorf("mssql: schema %q is not a plain identifier", o.Schema)
	}
	if o.MaxOpenConns <= 0 {
		o.MaxOpenConns = 16
	}
	switch o.PayloadIsolation {
	case IsolationAuto, IsolationSnapshot, IsolationReadCommitted:
	default:
		return fmt.Errorf("mssql: payload isolation %q: want %q or %q", o.PayloadIsolation, IsolationSnapshot, IsolationReadCommitted)
	}
	return nil
}

// DB is the SQL Server catalog.
type DB struct {
	db     *sql.DB
	log    *slog.Logger
	schema string
	// hasPayload is false once Finalize dropped RawPayload.
	hasPayload atomic.Bool
	isolation  string
	// noSnapshot is set once the database refused SNAPSHOT (IsolationAuto).
	noSnapshot atomic.Bool
}

var (
	_ catalog.Catalog = (*DB)(nil)
	_ catalog.Seeder  = (*DB)(nil)
)

// Open connects with dsn (a sqlserver:// URL or an ADO connection string)
// and checks the connection. Errors never contain the connection string.
func Open(ctx context.Context, dsn string, opt Options) (*DB, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(dsn) == "" {
		return nil, errors.New("mssql: empty connection string")
	}
	conn, err := newConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("mssql: open: %w", Redact(err, dsn))
	}
	sqldb := sql.OpenDB(conn)
	sqldb.SetMaxOpenConns(opt.MaxOpenConns)
	sqldb.SetMaxIdleConns(opt.MaxOpenConns)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	d := &DB{db: sqldb, log: opt.Logger, schema: opt.Schema, isolation: opt.PayloadIsolation}
	// The first contact: a ping, then what the schema holds (reads, so
	// repeatable as a whole).
	connect := func(ctx context.Context) error {
		if err := sqldb.PingContext(ctx); err != nil {
			return err
		}
		return d.refreshPayloadColumn(ctx)
	}
	if opt.Retrier != nil {
		once := connect
		connect = func(ctx context.Context) error { return opt.Retrier.Do(ctx, retry.Repeatable, once) }
	}
	if err := connect(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("mssql: connect: %w", Redact(err, dsn))
	}
	return d, nil
}

// driverFor picks go-mssqldb's Entra ID driver for fedauth= strings.
func driverFor(dsn string) string {
	if strings.Contains(strings.ToLower(dsn), "fedauth=") {
		return "azuresql"
	}
	return "sqlserver"
}

// Dialect implements catalog.Catalog.
func (d *DB) Dialect() string { return "mssql" }

// Close closes the pool.
func (d *DB) Close() error { return d.db.Close() }

// SQL returns the underlying handle (tests and tooling; not for domain code).
func (d *DB) SQL() *sql.DB { return d.db }

// q puts the configured schema in place of "dbo." in a statement written
// for the default schema.
func (d *DB) q(stmt string) string { return withSchema(stmt, d.schema) }

func withSchema(stmt, schema string) string {
	if schema == "dbo" {
		return stmt
	}
	return strings.ReplaceAll(stmt, "dbo.", schema+".")
}

// ExecBatches runs T-SQL batches in order on one connection (the file
// procedures of REFERENCE §4 need sp_invoke_external_rest_endpoint, which only
// SQL Server has). It stops at the first failing batch.
func (d *DB) ExecBatches(ctx context.Context, batches []string) error {
	c, err := d.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("mssql: batches: %w", err)
	}
	defer c.Close()
	for i, b := range batches {
		if strings.TrimSpace(b) == "" {
			continue
		}
		if _, err := c.ExecContext(ctx, b); err != nil {
			first, _, _ := strings.Cut(strings.TrimSpace(b), "\n")
			return fmt.Errorf("mssql: batch %d of %d (%s): %w", i+1, len(batches), first, err)
		}
	}
	return nil
}

// refreshPayloadColumn records whether LayerTensorSegments.RawPayload still
// exists (true when the table is missing: queries then fail clearly).
func (d *DB) refreshPayloadColumn(ctx context.Context) error {
	var n sql.NullInt64
	err := d.db.QueryRowContext(ctx, d.q("SELECT COL_LENGTH('dbo.LayerTensorSegments', 'RawPayload')")).Scan(&n)
	if err != nil {
		return err
	}
	var t sql.NullInt64
	if err := d.db.QueryRowContext(ctx, d.q("SELECT OBJECT_ID('dbo.LayerTensorSegments', 'U')")).Scan(&t); err != nil {
		return err
	}
	d.hasPayload.Store(n.Valid || !t.Valid)
	return nil
}

// dt is a datetime2 parameter in UTC; the zero time is a typed NULL.
//
// Never bind a bare nil: go-mssqldb sends it as TDS type 0x1F (NULLTYPE),
// which SQL Server refuses for OUTPUT parameters and some engines refuse
// everywhere ("Data type 0x1F is unknown"). A NULL always carries its type.
func dt(t time.Time) any {
	if t.IsZero() {
		return mssqldb.NullDateTime{}
	}
	return civil.DateTimeOf(dialect.Time(t))
}

// utc reads a datetime2 stored in UTC. The driver labels it with the
// connection's time zone; the wall clock is what was stored.
func utc(t sql.NullTime) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	v := t.Time
	return time.Date(v.Year(), v.Month(), v.Day(), v.Hour(), v.Minute(), v.Second(), v.Nanosecond(), time.UTC)
}

// nstr is an nvarchar parameter, a typed NULL for "" (see dt).
func nstr(s string) any {
	if s == "" {
		return sql.NullString{}
	}
	return s
}

func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
