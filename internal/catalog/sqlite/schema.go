package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"

	"github.com/hartonomous/offload/internal/catalog"
)

// The schema is a list of steps, one embedded .sql file each, applied in
// file-name order. SQLite has no "ADD COLUMN IF NOT EXISTS", so every
// statement is one of three recognised forms and runs only when the object
// it creates is missing:
//
//	CREATE TABLE IF NOT EXISTS T (...)        when table T is missing
//	CREATE [UNIQUE] INDEX IF NOT EXISTS I ON T (...)  when index I is missing
//	ALTER TABLE T ADD COLUMN C ...            when T has no column C
//
// A file marked "-- +offload baseline" holds Hartonomous tables: its indexes
// are created only together with their table, so a catalog that already
// holds Hartonomous data keeps its own indexes. A second Apply runs nothing.
//
//go:embed schema/*.sql
var schemaFS embed.FS

type stmtKind int

const (
	kindTable stmtKind = iota
	kindIndex
	kindColumn
)

type stmt struct {
	kind   stmtKind
	table  string // the table created or altered
	object string // index or column name
	text   string
}

type step struct {
	name     string
	baseline bool
	stmts    []stmt
}

var (
	reTable  = regexp.MustCompile(`(?is)^CREATE\s+TABLE\s+IF\s+NOT\s+EXISTS\s+(\w+)\s*\(`)
	reIndex  = regexp.MustCompile(`(?is)^CREATE\s+(?:UNIQUE\s+)?INDEX\s+IF\s+NOT\s+EXISTS\s+(\w+)\s+ON\s+(\w+)\s*\(`)
	reColumn = regexp.MustCompile(`(?is)^ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)\s`)
)

// loadSteps parses the embedded steps; an unrecognised statement is an error.
func loadSteps() ([]step, error) {
	names, err := fs.Glob(schemaFS, "schema/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var steps []step
	for _, name := range names {
		b, err := schemaFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		st := step{name: name}
		var cur strings.Builder
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(line, "--") {
				if strings.HasPrefix(line, "-- +offload baseline") {
					st.baseline = true
				}
				continue
			}
			if line == "" {
				continue
			}
			if cur.Len() > 0 {
				cur.WriteByte('\n')
			}
			cur.WriteString(sc.Text())
			if strings.HasSuffix(line, ";") {
				s, err := parseStmt(strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
				if err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				st.stmts = append(st.stmts, s)
				cur.Reset()
			}
		}
		if strings.TrimSpace(cur.String()) != "" {
			return nil, fmt.Errorf("%s: statement without final ';'", name)
		}
		steps = append(steps, st)
	}
	return steps, nil
}

func parseStmt(text string) (stmt, error) {
	if m := reTable.FindStringSubmatch(text); m != nil {
		return stmt{kind: kindTable, table: m[1], object: m[1], text: text}, nil
	}
	if m := reIndex.FindStringSubmatch(text); m != nil {
		return stmt{kind: kindIndex, table: m[2], object: m[1], text: text}, nil
	}
	if m := reColumn.FindStringSubmatch(text); m != nil {
		return stmt{kind: kindColumn, table: m[1], object: m[2], text: text}, nil
	}
	first, _, _ := strings.Cut(text, "\n")
	return stmt{}, fmt.Errorf("unrecognised schema statement (want CREATE TABLE/INDEX IF NOT EXISTS or ALTER TABLE ADD COLUMN): %s", first)
}

// Apply implements catalog.Catalog. It runs in one IMMEDIATE transaction;
// a dry run runs the same statements and rolls back, so it reports exactly
// what a real run would do.
func (d *DB) Apply(ctx context.Context, p catalog.ApplyParams) ([]string, error) {
	steps, err := loadSteps()
	if err != nil {
		return nil, fmt.Errorf("sqlite: schema: %w", err)
	}
	var ran []string
	errDry := fmt.Errorf("dry run")
	err = d.inTx(ctx, "IMMEDIATE", func(c *sql.Conn) error {
		created := map[string]bool{} // tables created in this run
		for _, st := range steps {
			for _, s := range st.stmts {
				need, err := missing(ctx, c, s)
				if err != nil {
					return fmt.Errorf("%s: %w", st.name, err)
				}
				if s.kind == kindIndex && st.baseline && !created[strings.ToLower(s.table)] {
					need = false
				}
				if !need {
					continue
				}
				if _, err := c.ExecContext(ctx, s.text); err != nil {
					return fmt.Errorf("%s: %s %s: %w", st.name, kindName(s.kind), s.object, err)
				}
				if s.kind == kindTable {
					created[strings.ToLower(s.table)] = true
				}
				ran = append(ran, s.text)
			}
		}
		if p.DryRun {
			return errDry
		}
		return nil
	})
	if err == errDry {
		return ran, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: schema apply: %w", err)
	}
	for _, s := range ran {
		first, _, _ := strings.Cut(s, "\n")
		d.log.Info("schema statement applied", "dialect", "sqlite", "statement", first)
	}
	return ran, d.refreshPayloadColumn(ctx)
}

func kindName(k stmtKind) string {
	switch k {
	case kindTable:
		return "create table"
	case kindIndex:
		return "create index"
	default:
		return "add column"
	}
}

// missing reports whether the object s creates does not exist yet.
func missing(ctx context.Context, q queryer, s stmt) (bool, error) {
	switch s.kind {
	case kindTable, kindIndex:
		typ := "table"
		if s.kind == kindIndex {
			typ = "index"
		}
		var n int
		err := q.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = ? AND name = ? COLLATE NOCASE", typ, s.object).Scan(&n)
		return n == 0, err
	default:
		cols, err := columns(ctx, q, s.table)
		if err != nil {
			return false, err
		}
		if len(cols) == 0 {
			return false, fmt.Errorf("table %s does not exist", s.table)
		}
		return !cols[strings.ToLower(s.object)], nil
	}
}
