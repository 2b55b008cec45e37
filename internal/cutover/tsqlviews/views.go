// Package tsqlviews reads the catalog views the cutover assessment needs
// from SQL Server or Azure SQL (cutover.Views). Every query is a plain
// SELECT on the documented views (sql-docs
// docs/relational-databases/system-catalog-views/); the few that must name
// a queue, table or column (counting a queue's messages, a FILESTREAM
// column's bytes) build their text server-side with QUOTENAME and run it
// with sp_executesql, so no name is spliced into SQL here.
//
// An engine that lacks a feature's views (Azure SQL Database has no
// Service Broker or FILESTREAM views; the Babelfish test engine lacks
// several) has nothing of that feature to assess: a view that does not
// exist reads as empty, and says so in Missing.
package tsqlviews

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/hartonomous/offload/internal/cutover"
)

// Views implements cutover.Views on a T-SQL connection pool.
type Views struct {
	db *sql.DB
	// Missing lists the catalog views this engine does not have.
	Missing []string
}

var _ cutover.Views = (*Views)(nil)

// New reads through db (the catalog's pool; read-only use).
func New(db *sql.DB) *Views { return &Views{db: db} }

// has reports whether the catalog view sys.<name> exists here. It asks
// with OBJECT_ID, which resolves system views on SQL Server; where that
// gives NULL a one-row probe decides.
func (v *Views) has(ctx context.Context, name string) (bool, error) {
	var id sql.NullInt64
	if err := v.db.QueryRowContext(ctx, "SELECT OBJECT_ID(@p1)", "sys."+name).Scan(&id); err != nil {
		return false, fmt.Errorf("tsqlviews: OBJECT_ID(sys.%s): %w", name, err)
	}
	if id.Valid {
		return true, nil
	}
	rows, err := v.db.QueryContext(ctx, "SELECT TOP (0) 1 FROM sys."+name) // name is a constant of this package
	if err == nil {
		rows.Close()
		return true, nil
	}
	if missingObject(err) {
		v.Missing = append(v.Missing, "sys."+name)
		return false, nil
	}
	return false, fmt.Errorf("tsqlviews: sys.%s: %w", name, err)
}

// missingObject tells "no such view/column" (SQL Server 208 and 207, the
// PostgreSQL-based engine's "does not exist") from every other error.
func missingObject(err error) bool {
	var n interface{ SQLErrorNumber() int32 }
	if errors.As(err, &n) && (n.SQLErrorNumber() == 208 || n.SQLErrorNumber() == 207) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "does not exist") || strings.Contains(s, "Invalid object name") || strings.Contains(s, "Invalid column name")
}

// collect runs query and scans every row.
func collect[T any](ctx context.Context, db *sql.DB, query string, scan func(*sql.Rows) (T, error), args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		x, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

func strs(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	return collect(ctx, db, query, func(r *sql.Rows) (string, error) {
		var s string
		return s, r.Scan(&s)
	}, args...)
}

// Database implements cutover.Views.
func (v *Views) Database(ctx context.Context) (cutover.Database, error) {
	var d cutover.Database
	var compat sql.NullInt64
	err := v.db.QueryRowContext(ctx, `SELECT DB_NAME(), (SELECT CONVERT(int, compatibility_level) FROM sys.databases WHERE database_id = DB_ID())`).Scan(&d.Name, &compat)
	if err != nil {
		return d, fmt.Errorf("tsqlviews: database: %w", err)
	}
	d.CompatibilityLevel = int(compat.Int64)
	if ok, err := v.has(ctx, "database_files"); err != nil {
		return d, err
	} else if ok {
		if err := v.db.QueryRowContext(ctx, "SELECT COALESCE(SUM(CONVERT(bigint, size)), 0) * 8192 FROM sys.database_files").Scan(&d.SizeBytes); err != nil {
			return d, fmt.Errorf("tsqlviews: database size: %w", err)
		}
	}
	if d.Schemas, err = strs(ctx, v.db, "SELECT name FROM sys.schemas"); err != nil {
		return d, fmt.Errorf("tsqlviews: schemas: %w", err)
	}
	if d.Databases, err = strs(ctx, v.db, "SELECT name FROM sys.databases WHERE database_id <> DB_ID()"); err != nil {
		return d, fmt.Errorf("tsqlviews: databases: %w", err)
	}
	if ok, err := v.has(ctx, "servers"); err != nil {
		return d, err
	} else if ok {
		if d.LinkedServers, err = strs(ctx, v.db, "SELECT name FROM sys.servers WHERE is_linked = 1"); err != nil {
			return d, fmt.Errorf("tsqlviews: linked servers: %w", err)
		}
	}
	d.NextNamed, err = strs(ctx, v.db, `SELECT s.name + N'.' + t.name FROM sys.tables AS t JOIN sys.schemas AS s ON s.schema_id = t.schema_id
WHERE t.name = N'NEXT' AND t.is_ms_shipped = 0
UNION ALL
SELECT s.name + N'.' + o.name + N'.' + c.name FROM sys.columns AS c
JOIN sys.objects AS o ON o.object_id = c.object_id JOIN sys.schemas AS s ON s.schema_id = o.schema_id
WHERE c.name = N'NEXT' AND o.type IN ('U', 'V') AND o.is_ms_shipped = 0`)
	if err != nil {
		return d, fmt.Errorf("tsqlviews: names NEXT: %w", err)
	}
	return d, nil
}

// Modules implements cutover.Views: every user module's text.
func (v *Views) Modules(ctx context.Context) ([]cutover.Module, error) {
	mods, err := collect(ctx, v.db, `SELECT o.object_id, s.name, o.name, o.type, o.type_desc, m.definition
FROM sys.sql_modules AS m JOIN sys.objects AS o ON o.object_id = m.object_id JOIN sys.schemas AS s ON s.schema_id = o.schema_id
WHERE o.is_ms_shipped = 0
ORDER BY s.name, o.name`, func(r *sql.Rows) (cutover.Module, error) {
		var m cutover.Module
		var def sql.NullString
		err := r.Scan(&m.ObjectID, &m.SchemaName, &m.Name, &m.Type, &m.TypeDesc, &def)
		m.Type = strings.TrimSpace(m.Type)
		if def.Valid {
			m.Definition = &def.String
		}
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("tsqlviews: modules: %w", err)
	}
	return mods, nil
}
