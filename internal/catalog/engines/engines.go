// Package engines opens the catalog a connection string names: the
// embedded SQLite catalog for "sqlite:PATH", SQL Server / Azure SQL for
// anything else (REFERENCE §2, SQL_CONNECTION_STRING).
package engines

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/mssql"
	"github.com/hartonomous/offload/internal/catalog/sqlite"
)

// Options tune Open; the zero value is ready to use.
type Options struct {
	// Logger receives schema changes; nil discards.
	Logger *slog.Logger
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
		db, err := sqlite.Open(ctx, path, sqlite.Options{Logger: opt.Logger})
		if err != nil {
			return nil, err // names the path, which is no secret
		}
		return db, nil
	default:
		db, err := mssql.Open(ctx, dsn, mssql.Options{Logger: opt.Logger})
		if err != nil {
			return nil, fmt.Errorf("catalog: %w", err)
		}
		return db, nil
	}
}
