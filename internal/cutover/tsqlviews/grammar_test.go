package tsqlviews_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/cutover"
	"github.com/hartonomous/offload/internal/cutover/cutovertest"
)

// The test engine's parser is an ANTLR grammar that follows SQL Server's.
// It refuses a well-formed statement it cannot run with "'X' is not
// currently supported in Babelfish" and a malformed one with "syntax error
// near …". Running each statement Offload generates there, and accepting
// only success or the first kind, is a grammar check of the statements no
// engine here can run (FILESTREAM, Service Broker, CLR). Some it accepts
// and ignores (ALTER TABLE … SET (FILESTREAM_ON = "NULL") returns no
// error): those prove their grammar, not their effect.

type verdict string

const (
	ran         verdict = "ran"
	parsed      verdict = "parsed (not supported by the engine)"
	runError    verdict = "parsed, failed when run"
	syntaxError verdict = "syntax error"
)

func check(ctx context.Context, db *sql.DB, stmt string) (verdict, string) {
	_, err := db.ExecContext(ctx, stmt)
	switch {
	case err == nil:
		return ran, ""
	case strings.Contains(err.Error(), "is not currently supported in Babelfish"):
		return parsed, err.Error()
	case strings.Contains(strings.ToLower(err.Error()), "syntax error") || strings.Contains(err.Error(), "Incorrect syntax"):
		return syntaxError, err.Error()
	default:
		return runError, err.Error()
	}
}

// TestGrammarCheckTellsMalformedOnTSQL: the method tells a malformed
// SQL Server-only statement from a well-formed one.
func TestGrammarCheckTellsMalformedOnTSQL(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	for _, bad := range []string{
		"ALTER QUEUE [dbo].[q] WITH ACTIVATION (STATUS = MAYBE);",
		"END CONVERSATION @h WITH CLEANUP CLEANUP;",
		"ALTER DATABASE [x] REMOVE FILEGROUP;",
		"RECEIVE TOP (1) * FROM;",
	} {
		if v, msg := check(ctx, db, "DECLARE @h uniqueidentifier;\n"+bad); v != syntaxError {
			t.Errorf("%s: %s (%s), want a syntax error", bad, v, msg)
		}
	}
}

// TestGeneratedStatementsOnTSQL runs every batch of a full plan (the
// script, unchanged) and every SQL Server-only statement of it on its own.
// None may be a syntax error; each is logged as ran or only parsed.
func TestGeneratedStatementsOnTSQL(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	f := cutovertest.Hartonomous()
	f.Mods = nil
	in, err := cutover.Load(ctx, f, cutover.Options{ServiceQueues: cutovertest.ServiceQueues()})
	if err != nil {
		t.Fatal(err)
	}
	p := in.PlanApply()
	if p.Refused() {
		t.Fatal(p.Refusals)
	}
	seen := map[string]bool{}
	for i, s := range p.Steps {
		var texts []string
		texts = append(texts, s.Batches...)
		texts = append(texts, s.Checks...)
		for _, text := range texts {
			if seen[text] {
				continue
			}
			seen[text] = true
			stmt := text
			if strings.Contains(text, "@h") && !strings.Contains(text, "DECLARE @h") {
				stmt = "DECLARE @h uniqueidentifier;\n" + text
			}
			v, msg := check(ctx, db, stmt)
			t.Logf("step %d (%s: %s): %s: %s %s", i+1, s.Part, s.Title, v, firstLine(text), msg)
			if v == syntaxError {
				t.Errorf("step %d (%s): syntax error:\n%s\n%s", i+1, s.Title, text, msg)
			}
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
