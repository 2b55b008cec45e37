// Package sqlite is the embedded catalog: the Hartonomous tables and
// Offload's columns in one SQLite file, through modernc.org/sqlite (pure Go,
// driver name "sqlite"). It is used for local runs and tests and behaves like
// the SQL Server catalog (the catalogtest suite runs on both).
//
// Storage choices:
//   - Times are TEXT in UTC with a fixed-width microsecond layout,
//     "2006-01-02T15:04:05.000000Z", so text order is time order and
//     comparisons with bound parameters work. Columns holding them are
//     declared TEXT so the driver never guesses a conversion.
//   - Ids are INTEGER PRIMARY KEY, so LayerTensorSegmentId is the rowid that
//     incremental blob I/O addresses.
//   - Payloads are read and written with incremental blob I/O (blobio.go),
//     never materialised whole. SQLite caps one value at 1,000,000,000
//     bytes (SQLITE_MAX_LENGTH): larger payloads belong on SQL Server.
//   - Offload's bookkeeping lives in its own table, OffloadSegments (same
//     column names as on SQL Server's LayerTensorSegments), because SQLite
//     rewrites a whole row, payload included, on any UPDATE: a claim on a
//     1 GB segment would otherwise cost 1 GB of memory and writes. The
//     segment row itself is written once, at release, when its payload is
//     emptied and BlobUri/BlobETag/BlobSizeBytes are copied onto it. See
//     schema/0003_offload_bookkeeping.sql.
//
// Concurrency: WAL mode, busy_timeout, and one write statement per change
// (each conditional update is a single UPDATE), so several workers on one
// file wait for each other instead of failing. A payload reader holds a read
// transaction on a connection of its own: it sees a consistent snapshot
// while writers proceed.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/internal/dialect"

	_ "modernc.org/sqlite" // registers driver "sqlite"
)

// Options tune the embedded catalog. The zero value is ready to use.
type Options struct {
	// Logger receives schema changes; nil discards.
	Logger *slog.Logger
	// BusyTimeout is how long a statement waits for another connection's
	// write lock. Default 10s.
	BusyTimeout time.Duration
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 10 * time.Second
	}
}

// DB is the embedded catalog.
type DB struct {
	db   *sql.DB
	path string
	log  *slog.Logger
	// hasPayload is false once Finalize dropped RawPayload: queries then
	// report 0 bytes instead of naming a missing column.
	hasPayload atomic.Bool
}

var (
	_ catalog.Catalog = (*DB)(nil)
	_ catalog.Seeder  = (*DB)(nil)
)

// Open opens (creating if needed) the catalog file at path. It does not
// change the schema: call Apply.
func Open(ctx context.Context, path string, opt Options) (*DB, error) {
	opt.defaults()
	if path == "" {
		return nil, errors.New("sqlite: empty path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: path %q: '?' and '#' are not supported in catalog file names", path)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opt.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	sqldb, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	d := &DB{db: sqldb, path: path, log: opt.Logger}
	// Prove now, not mid-migration, that the driver still lets us do blob
	// I/O (see blobio.go), and learn whether RawPayload still exists.
	if err := d.withConn(ctx, func(c *sql.Conn) error {
		return c.Raw(func(dc any) error { _, err := rawHandle(dc); return err })
	}); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	if err := d.refreshPayloadColumn(ctx); err != nil {
		sqldb.Close()
		return nil, fmt.Errorf("sqlite: open %q: %w", path, err)
	}
	return d, nil
}

// Dialect implements catalog.Catalog.
func (d *DB) Dialect() string { return "sqlite" }

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

// SQL returns the underlying handle (tests and tooling; not for domain code).
func (d *DB) SQL() *sql.DB { return d.db }

// refreshPayloadColumn records whether LayerTensorSegments.RawPayload exists
// (true when the table does not exist yet: Apply creates it with it).
func (d *DB) refreshPayloadColumn(ctx context.Context) error {
	cols, err := columns(ctx, d.db, "LayerTensorSegments")
	if err != nil {
		return err
	}
	d.hasPayload.Store(len(cols) == 0 || cols["rawpayload"])
	return nil
}

// withConn runs f on a connection reserved for it.
func (d *DB) withConn(ctx context.Context, f func(*sql.Conn) error) error {
	c, err := d.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return f(c)
}

// inTx runs f inside "BEGIN <mode>" on a reserved connection and commits,
// or rolls back on error. database/sql's Tx cannot ask for BEGIN IMMEDIATE,
// which writers need so that they wait (busy_timeout) for the write lock at
// the start instead of failing when a read turns into a write.
func (d *DB) inTx(ctx context.Context, mode string, f func(*sql.Conn) error) error {
	c, err := d.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return txOn(ctx, c, mode, f)
}

// txOn runs f inside "BEGIN <mode>" on c and commits, or rolls back on
// error (inTx).
func txOn(ctx context.Context, c *sql.Conn, mode string, f func(*sql.Conn) error) error {
	if _, err := c.ExecContext(ctx, "BEGIN "+mode); err != nil {
		return err
	}
	if err := f(c); err != nil {
		endTx(c, "ROLLBACK")
		return err
	}
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		endTx(c, "ROLLBACK")
		return err
	}
	return nil
}

// endTx ends a manual transaction with a context that cannot be cancelled:
// a connection must never return to the pool inside a transaction. If that
// fails, the connection is discarded.
func endTx(c *sql.Conn, stmt string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.ExecContext(ctx, stmt); err != nil {
		_ = c.Raw(func(any) error { return driver.ErrBadConn })
	}
}

// exists reports whether a row with the given id exists in table.
func exists(ctx context.Context, q queryer, table, idCol string, id int64) (bool, error) {
	var one int
	err := q.QueryRowContext(ctx, "SELECT 1 FROM "+table+" WHERE "+idCol+" = ?", id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// columns returns the lower-cased column names of table (empty when the
// table does not exist).
func columns(ctx context.Context, q queryer, table string) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, "SELECT name FROM pragma_table_info(?)", table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	names, err := dialect.Strings(rows)
	if err != nil {
		return nil, err
	}
	cols := map[string]bool{}
	for _, n := range names {
		cols[strings.ToLower(n)] = true
	}
	return cols, nil
}

// affected returns RowsAffected or the error.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// extraByte reports whether r yields another byte: a payload reader must
// not have more bytes than announced.
func extraByte(r io.Reader) bool {
	var b [1]byte
	n, _ := io.ReadFull(r, b[:])
	return n > 0
}
