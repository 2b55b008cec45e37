// Package engines opens the catalog a connection string names: the
// embedded SQLite catalog for "sqlite:PATH", SQL Server / Azure SQL for
// anything else (REFERENCE §2, SQL_CONNECTION_STRING). Either comes wrapped in the
// catalog's retry policy (docs/RETRIES.md).
package engines

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/internal/retry"
	"github.com/hartonomous/offload/internal/catalog/mssql"
	"github.com/hartonomous/offload/internal/catalog/sqlite"
)

// Options tune Open; the zero value is ready to use.
type Options struct {
	// Logger receives schema changes and, once per outage, the catalog's
	// transient faults; nil discards.
	Logger *slog.Logger
	// RetryBudget bounds how long one catalog operation retries transient
	// faults when its context has no earlier deadline (default 3 minutes,
	// the commands' --retry-budget).
	RetryBudget time.Duration
	// PayloadReaders caps the segment payloads read at once by this
	// instance (SQL_PAYLOAD_READERS); 0: no cap.
	PayloadReaders int
	// NoRetry opens the bare dialect (benchmarks compare with it).
	NoRetry bool
	// PingOnce makes Open's first contact with the server a single try,
	// for a caller that retries the connection itself (the handler's
	// Starter, which must report a refusing catalog at once); the
	// operations are retried all the same.
	PingOnce bool
	// Sleep and Now replace the retries' wait and clock (tests).
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
}

// SQLitePrefix marks the embedded catalog in a connection string.
const SQLitePrefix = "sqlite:"

// Open opens the catalog for dsn. Errors never contain dsn: it may hold a
// password.
func Open(ctx context.Context, dsn string) (catalog.Catalog, error) {
	return OpenWith(ctx, dsn, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, dsn string, opt Options) (catalog.Catalog, error) {
	switch {
	case strings.TrimSpace(dsn) == "":
		return nil, errors.New("catalog: empty connection string")
	case strings.HasPrefix(dsn, SQLitePrefix):
		path := strings.TrimPrefix(dsn, SQLitePrefix)
		if path == "" {
			return nil, errors.New("catalog: sqlite: needs a file path, e.g. sqlite:./offload.db")
		}
		r := opt.retrier(sqlite.Classify, path)
		db, err := sqlite.Open(ctx, path, sqlite.Options{Logger: opt.Logger})
		if err != nil {
			return nil, err // names the path, which is no secret
		}
		return opt.wrap(db, r), nil
	default:
		r := opt.retrier(mssql.Classify, mssql.ServerName(dsn))
		mo := mssql.Options{Logger: opt.Logger}
		if !opt.NoRetry && !opt.PingOnce {
			mo.Retrier = r
		}
		db, err := mssql.Open(ctx, dsn, mo)
		if err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		return opt.wrap(db, r), nil
	}
}

func (o Options) retrier(classify retry.Classifier, server string) *retry.Retrier {
	return retry.New(retry.Policy{Classify: classify, Server: server, Budget: o.RetryBudget,
		Logger: o.Logger, Sleep: o.Sleep, Now: o.Now})
}

func (o Options) wrap(db catalog.Catalog, r *retry.Retrier) catalog.Catalog {
	if o.NoRetry {
		return db
	}
	return retry.Wrap(db, r, retry.Options{PayloadReaders: o.PayloadReaders})
}
