package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"

	"github.com/hartonomous/offload/internal/catalog/internal/dialect"
)

// SQLite's ALTER TABLE DROP COLUMN refuses a column that carries a UNIQUE
// constraint ("cannot drop UNIQUE column"): its automatic index
// (sqlite_autoindex_*) belongs to the table definition itself. A
// Hartonomous catalog copied into SQLite declares PayloadRowGuid that way
// (… NOT NULL UNIQUE), so Finalize drops such columns with the table
// rebuild SQLite documents for schema changes ALTER TABLE cannot make
// (https://www.sqlite.org/lang_altertable.html#otheralter, "12 steps"):
//
//	foreign_keys OFF (outside the transaction), BEGIN, remember the
//	table's indexes and triggers and the views and triggers that name it,
//	CREATE TABLE new (the old definition without the columns), INSERT
//	INTO new SELECT the kept columns, DROP TABLE old, ALTER TABLE new
//	RENAME TO old, re-create the indexes, triggers and views,
//	foreign_key_check, COMMIT, foreign_keys back ON.
//
// The new definition is the old CREATE TABLE text with the dropped
// columns' definitions (and table-level UNIQUE constraints on only those
// columns) cut out, so every other column, type, default, constraint and
// foreign key is kept exactly as written. Anything else that refers to a
// dropped column (a CHECK, a composite key, a view) makes the rebuild fail
// and roll back with a message naming it: nothing changes then.

// uniqueOn reports whether a UNIQUE constraint of table covers column
// (the index SQLite made for it has origin 'u').
func uniqueOn(ctx context.Context, q queryer, table, column string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `
SELECT count(*) FROM pragma_index_list(?) AS il, pragma_index_info(il.name) AS ii
WHERE ii.name = ? COLLATE NOCASE AND il.origin = 'u'`, table, column).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("unique constraints on %s.%s: %w", table, column, err)
	}
	return n > 0, nil
}

// withForeignKeysOff runs f in an IMMEDIATE transaction on a connection
// whose foreign key enforcement is off (step 1: the pragma is a no-op
// inside a transaction, and with enforcement on DROP TABLE would cascade
// into the tables that reference the old table). It is switched back on
// whatever happens; a connection that cannot be restored is discarded.
func (d *DB) withForeignKeysOff(ctx context.Context, f func(*sql.Conn) error) error {
	c, err := d.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "PRAGMA foreign_keys = OFF"); err != nil {
		return err
	}
	defer func() {
		if _, err := c.ExecContext(context.WithoutCancel(ctx), "PRAGMA foreign_keys = ON"); err != nil {
			// Never hand a connection without enforcement back to the pool.
			_ = c.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return txOn(ctx, c, "IMMEDIATE", f)
}

// rebuildWithout rebuilds table without the columns drop (steps 3–10),
// inside the caller's transaction with foreign keys off.
func (d *DB) rebuildWithout(ctx context.Context, c *sql.Conn, table string, drop []string) error {
	dropped := map[string]bool{}
	for _, col := range drop {
		dropped[strings.ToLower(col)] = true
	}
	var createSQL string
	if err := c.QueryRowContext(ctx, "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE", table).Scan(&createSQL); err != nil {
		return fmt.Errorf("rebuild %s: read definition: %w", table, err)
	}
	tmp := table + "_offload_rebuild"
	newSQL, err := definitionWithout(createSQL, tmp, dropped)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", table, err)
	}

	// Step 3: what goes with the table (indexes, triggers) and what names
	// it (views, other tables' triggers), to re-create after the rename.
	type object struct{ typ, name, sql string }
	var keep []object
	rows, err := c.QueryContext(ctx, `
SELECT type, name, sql FROM sqlite_schema
WHERE sql IS NOT NULL AND type IN ('index', 'trigger', 'view')
  AND (tbl_name = ?1 COLLATE NOCASE OR (type IN ('view', 'trigger') AND instr(lower(sql), lower(?1)) > 0))
ORDER BY CASE type WHEN 'index' THEN 0 WHEN 'view' THEN 1 ELSE 2 END, rowid`, table)
	if err != nil {
		return fmt.Errorf("rebuild %s: list dependents: %w", table, err)
	}
	for rows.Next() {
		var o object
		if err := rows.Scan(&o.typ, &o.name, &o.sql); err != nil {
			rows.Close()
			return err
		}
		keep = append(keep, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	// Indexes on a dropped column go with it (as Finalize drops them on
	// the plain path); the others are re-created.
	var recreate []object
	for _, o := range keep {
		if o.typ == "index" {
			cols, err := indexColumns(ctx, c, o.name)
			if err != nil {
				return err
			}
			if anyDropped(cols, dropped) {
				d.log.Info("finalize: index dropped", "index", o.name)
				continue
			}
		}
		recreate = append(recreate, o)
	}
	// Views and foreign triggers naming the table must not exist while it
	// is missing (the rename re-checks the schema); the table's own indexes
	// and triggers go with DROP TABLE.
	for _, o := range recreate {
		if o.typ == "view" {
			if _, err := c.ExecContext(ctx, `DROP VIEW "`+quoteIdent(o.name)+`"`); err != nil {
				return fmt.Errorf("rebuild %s: drop view %s: %w", table, o.name, err)
			}
		} else if o.typ == "trigger" {
			if _, err := c.ExecContext(ctx, `DROP TRIGGER IF EXISTS "`+quoteIdent(o.name)+`"`); err != nil {
				return fmt.Errorf("rebuild %s: drop trigger %s: %w", table, o.name, err)
			}
		}
	}

	// Steps 4–7.
	var kept []string
	crow, err := c.QueryContext(ctx, "SELECT name FROM pragma_table_xinfo(?) WHERE hidden = 0 ORDER BY cid", table)
	if err != nil {
		return err
	}
	for crow.Next() {
		var name string
		if err := crow.Scan(&name); err != nil {
			crow.Close()
			return err
		}
		if !dropped[strings.ToLower(name)] {
			kept = append(kept, `"`+quoteIdent(name)+`"`)
		}
	}
	crow.Close()
	if err := crow.Err(); err != nil {
		return err
	}
	list := strings.Join(kept, ", ")
	for _, s := range []string{
		newSQL,
		`INSERT INTO "` + quoteIdent(tmp) + `" (` + list + `) SELECT ` + list + ` FROM "` + quoteIdent(table) + `"`,
		`DROP TABLE "` + quoteIdent(table) + `"`,
		`ALTER TABLE "` + quoteIdent(tmp) + `" RENAME TO "` + quoteIdent(table) + `"`,
	} {
		if _, err := c.ExecContext(ctx, s); err != nil {
			first, _, _ := strings.Cut(s, "(")
			return fmt.Errorf("rebuild %s: %s: %w", table, strings.TrimSpace(first), err)
		}
	}
	// Steps 8–9.
	for _, o := range recreate {
		if _, err := c.ExecContext(ctx, o.sql); err != nil {
			return fmt.Errorf("rebuild %s: re-create %s %s: %w", table, o.typ, o.name, err)
		}
	}
	// Step 9: nothing left in the schema (views, triggers) may refer to a
	// dropped column. CREATE VIEW and CREATE TRIGGER bind names lazily, but
	// ALTER TABLE RENAME re-checks every schema object: renaming a scratch
	// table makes SQLite report the first broken one.
	for _, s := range []string{
		`CREATE TABLE "offload_schema_check" (x)`,
		`ALTER TABLE "offload_schema_check" RENAME TO "offload_schema_checked"`,
		`DROP TABLE "offload_schema_checked"`,
	} {
		if _, err := c.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("rebuild %s: the schema refers to a dropped column: %w", table, err)
		}
	}
	// Step 10: the rows of the new table and of the tables referencing it
	// still satisfy their foreign keys.
	checks := []string{table}
	refs, err := c.QueryContext(ctx, `
SELECT DISTINCT m.name FROM sqlite_schema AS m, pragma_foreign_key_list(m.name) AS f
WHERE m.type = 'table' AND f."table" = ? COLLATE NOCASE`, table)
	if err != nil {
		return err
	}
	for refs.Next() {
		var name string
		if err := refs.Scan(&name); err != nil {
			refs.Close()
			return err
		}
		checks = append(checks, name)
	}
	refs.Close()
	if err := refs.Err(); err != nil {
		return err
	}
	for _, t := range checks {
		var child, parent string
		var rowid sql.NullInt64
		var fk int
		err := c.QueryRowContext(ctx, `PRAGMA foreign_key_check("`+quoteIdent(t)+`")`).Scan(&child, &rowid, &parent, &fk)
		if err == nil {
			return fmt.Errorf("rebuild %s: foreign key check: %s row %d has no parent in %s", table, child, rowid.Int64, parent)
		}
		if err != sql.ErrNoRows {
			return fmt.Errorf("rebuild %s: foreign key check of %s: %w", table, t, err)
		}
	}
	d.log.Info("finalize: table rebuilt without columns", "table", table, "columns", strings.Join(drop, ","))
	return nil
}

// indexColumns lists the (lower-cased) columns an index uses.
func indexColumns(ctx context.Context, q queryer, index string) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT coalesce(name, '') FROM pragma_index_info(?)", index)
	if err != nil {
		return nil, fmt.Errorf("columns of index %s: %w", index, err)
	}
	out, err := dialect.Strings(rows)
	for i := range out {
		out[i] = strings.ToLower(out[i])
	}
	return out, err
}

func anyDropped(names []string, dropped map[string]bool) bool {
	for _, n := range names {
		if dropped[strings.ToLower(n)] {
			return true
		}
	}
	return false
}

func allDropped(names []string, dropped map[string]bool) bool {
	for _, n := range names {
		if !dropped[strings.ToLower(n)] {
			return false
		}
	}
	return len(names) > 0
}

// quoteIdent escapes an identifier for use between double quotes.
func quoteIdent(s string) string { return strings.ReplaceAll(s, `"`, `""`) }

// definitionWithout rewrites a CREATE TABLE statement as CREATE TABLE
// "name" without the column definitions of dropped and without table-level
// UNIQUE / PRIMARY KEY constraints whose columns are all dropped. Any other
// part that names a dropped column is an error.
func definitionWithout(createSQL, name string, dropped map[string]bool) (string, error) {
	open, close, err := bodyBounds(createSQL)
	if err != nil {
		return "", err
	}
	var out []string
	for _, part := range splitTopLevel(createSQL[open+1 : close]) {
		toks := scan(part)
		if len(toks) == 0 {
			continue
		}
		first := toks[0]
		isConstraint := first.kind == tokWord && isConstraintKeyword(first.text)
		switch {
		case !isConstraint && dropped[strings.ToLower(first.text)]:
			continue // the dropped column's definition, with its own constraints
		case isConstraint && (keywordAt(toks, "UNIQUE") || keywordAt(toks, "PRIMARY")):
			cols := firstParenIdents(toks)
			if allDropped(cols, dropped) {
				continue
			}
		}
		start := 0
		if !isConstraint {
			start = 1 // a kept column may be named like nothing else; its body may not name a dropped one
		}
		for _, t := range toks[start:] {
			if t.kind != tokString && dropped[strings.ToLower(t.text)] {
				return "", fmt.Errorf("%q refers to column %s: drop it first", strings.TrimSpace(part), t.text)
			}
		}
		out = append(out, strings.TrimSpace(part))
	}
	return `CREATE TABLE "` + quoteIdent(name) + "\" (\n    " + strings.Join(out, ",\n    ") + "\n)" + createSQL[close+1:], nil
}

func isConstraintKeyword(w string) bool {
	switch strings.ToUpper(w) {
	case "CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN":
		return true
	}
	return false
}

// keywordAt reports whether a bare word kw occurs in toks.
func keywordAt(toks []token, kw string) bool {
	for _, t := range toks {
		if t.kind == tokWord && strings.EqualFold(t.text, kw) {
			return true
		}
	}
	return false
}

// firstParenIdents returns the first identifier of each comma-separated
// item of the first parenthesised list in toks: the columns of a key.
func firstParenIdents(toks []token) []string {
	var out []string
	depth, want := 0, false
	for _, t := range toks {
		switch {
		case t.kind == tokPunct && t.text == "(":
			depth++
			if depth == 1 {
				want = true
			}
		case t.kind == tokPunct && t.text == ")":
			depth--
			if depth == 0 {
				return out
			}
		case t.kind == tokPunct && t.text == "," && depth == 1:
			want = true
		case depth == 1 && want && (t.kind == tokWord || t.kind == tokQuoted):
			out = append(out, t.text)
			want = false
		}
	}
	return out
}

// bodyBounds finds the parentheses around a CREATE TABLE's definitions.
func bodyBounds(s string) (int, int, error) {
	open, depth := -1, 0
	for _, t := range scan(s) {
		if t.kind != tokPunct {
			continue
		}
		switch t.text {
		case "(":
			if depth == 0 && open < 0 {
				open = t.pos
			}
			depth++
		case ")":
			depth--
			if depth == 0 && open >= 0 {
				return open, t.pos, nil
			}
		}
	}
	return 0, 0, fmt.Errorf("cannot parse table definition %q", s)
}

// splitTopLevel splits a definition list at the commas outside any
// parentheses, quotes and comments.
func splitTopLevel(body string) []string {
	var parts []string
	depth, last := 0, 0
	for _, t := range scan(body) {
		if t.kind != tokPunct {
			continue
		}
		switch t.text {
		case "(":
			depth++
		case ")":
			depth--
		case ",":
			if depth == 0 {
				parts = append(parts, body[last:t.pos])
				last = t.pos + 1
			}
		}
	}
	return append(parts, body[last:])
}

type tokKind int

const (
	tokWord   tokKind = iota // a bare word: keyword or identifier
	tokQuoted                // "ident", [ident] or `ident`, unquoted
	tokString                // 'literal'
	tokPunct                 // ( ) ,
	tokOther
)

type token struct {
	kind tokKind
	text string
	pos  int
}

// scan is a small SQLite lexer: enough to find identifiers, parentheses and
// commas outside string literals, quoted identifiers and comments.
func scan(s string) []token {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				i = len(s)
			} else {
				i += end + 4
			}
		case c == '\'' || c == '"' || c == '`' || c == '[':
			closer := c
			if c == '[' {
				closer = ']'
			}
			j := i + 1
			var b strings.Builder
			for j < len(s) {
				if s[j] == closer {
					if closer != ']' && j+1 < len(s) && s[j+1] == closer {
						b.WriteByte(closer) // doubled quote
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			kind := tokQuoted
			if c == '\'' {
				kind = tokString
			}
			out = append(out, token{kind: kind, text: b.String(), pos: i})
			i = j + 1
		case c == '(' || c == ')' || c == ',':
			out = append(out, token{kind: tokPunct, text: string(c), pos: i})
			i++
		case c == '_' || c == '$' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c >= 0x80:
			j := i
			for j < len(s) && (s[j] == '_' || s[j] == '$' || 'a' <= s[j] && s[j] <= 'z' || 'A' <= s[j] && s[j] <= 'Z' || '0' <= s[j] && s[j] <= '9' || s[j] >= 0x80) {
				j++
			}
			out = append(out, token{kind: tokWord, text: s[i:j], pos: i})
			i = j
		default:
			out = append(out, token{kind: tokOther, text: string(c), pos: i})
			i++
		}
	}
	return out
}
