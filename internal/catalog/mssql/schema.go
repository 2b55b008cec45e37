package mssql

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/hartonomous/offload/internal/catalog"
)

// The schema steps are embedded .sql files, applied in file-name order. Each
// file is a list of batches separated by "GO" lines, every batch of the form
//
//	IF <condition that the change is still missing>
//	    <one DDL statement>
//
// so the files run as they are in SSMS or sqlcmd, and Apply can tell which
// batches would change something: it evaluates the condition, then runs the
// whole guarded batch (the guard is checked again server-side, so two
// concurrent applies are harmless).
//
//go:embed schema/*.sql
var schemaFS embed.FS

type batch struct {
	file string
	cond string // the IF condition
	stmt string // the guarded statement
	text string // the whole batch
}

// hartonomousTables must exist before Apply: Offload never creates them on
// SQL Server.
var hartonomousTables = []string{"Models", "ModelLayers", "LayerTensorSegments", "Atoms"}

// loadBatches parses the embedded steps for schema.
func loadBatches(schema string) ([]batch, error) {
	names, err := fs.Glob(schemaFS, "schema/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []batch
	for _, name := range names {
		b, err := schemaFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		for _, text := range splitBatches(string(b)) {
			bt, err := parseBatch(name, withSchema(text, schema))
			if err != nil {
				return nil, err
			}
			out = append(out, bt)
		}
	}
	return out, nil
}

// splitBatches splits a script on lines holding only GO and drops comment
// lines and empty batches.
func splitBatches(script string) []string {
	var out []string
	var cur []string
	flush := func() {
		if s := strings.TrimSpace(strings.Join(cur, "\n")); s != "" {
			out = append(out, s)
		}
		cur = nil
	}
	for _, line := range strings.Split(strings.ReplaceAll(script, "\r\n", "\n"), "\n") {
		t := strings.TrimSpace(line)
		switch {
		case strings.EqualFold(t, "GO"):
			flush()
		case strings.HasPrefix(t, "--"):
		default:
			cur = append(cur, line)
		}
	}
	flush()
	return out
}

func parseBatch(file, text string) (batch, error) {
	first, rest, _ := strings.Cut(text, "\n")
	first = strings.TrimSpace(first)
	if !strings.HasPrefix(strings.ToUpper(first), "IF ") || strings.TrimSpace(rest) == "" {
		return batch{}, fmt.Errorf("%s: batch is not \"IF <condition>\" followed by one statement: %s", file, first)
	}
	return batch{
		file: file,
		cond: strings.TrimSpace(first[3:]),
		stmt: strings.TrimSuffix(strings.TrimSpace(rest), ";"),
		text: text,
	}, nil
}

// Apply implements catalog.Catalog: it adds Offload's columns, constraints
// and index where missing and returns the statements that ran (or, with
// DryRun, would run).
func (d *DB) Apply(ctx context.Context, p catalog.ApplyParams) ([]string, error) {
	batches, err := loadBatches(d.schema)
	if err != nil {
		return nil, fmt.Errorf("mssql: schema: %w", err)
	}
	for _, t := range hartonomousTables {
		var id *int64
		if err := d.db.QueryRowContext(ctx, "SELECT OBJECT_ID(@p1, 'U')", d.schema+"."+t).Scan(&id); err != nil {
			return nil, fmt.Errorf("mssql: schema apply: %w", err)
		}
		if id == nil {
			return nil, fmt.Errorf("mssql: schema apply: table %s.%s does not exist: Offload adds columns to the Hartonomous tables, it never creates them on SQL Server", d.schema, t)
		}
	}
	var ran []string
	for _, b := range batches {
		var need int
		if err := d.db.QueryRowContext(ctx, "SELECT CASE WHEN "+b.cond+" THEN 1 ELSE 0 END").Scan(&need); err != nil {
			return ran, fmt.Errorf("mssql: schema apply: %s: check %s: %w", b.file, b.cond, err)
		}
		if need == 0 {
			continue
		}
		if !p.DryRun {
			if _, err := d.db.ExecContext(ctx, b.text); err != nil {
				return ran, fmt.Errorf("mssql: schema apply: %s: %s: %w", b.file, b.stmt, err)
			}
			d.log.Info("schema statement applied", "dialect", "mssql", "statement", b.stmt)
		}
		ran = append(ran, b.stmt)
	}
	if err := d.refreshPayloadColumn(ctx); err != nil {
		return ran, fmt.Errorf("mssql: schema apply: %w", err)
	}
	return ran, nil
}
