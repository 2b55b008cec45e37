package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hartonomous/offload/internal/app"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/cutover"
	"github.com/hartonomous/offload/internal/cutover/tsqlviews"
)

// sqlHandle is implemented by the T-SQL catalog: the cutover reads the
// catalog views and runs its steps on the same pool.
type sqlHandle interface{ SQL() *sql.DB }

const embeddedNothing = "the embedded catalog (SQLite) has nothing to assess: FILESTREAM, Service Broker and SQL CLR exist only on SQL Server; set SQL_CONNECTION_STRING to the SQL Server database to assess it"

// cutoverInput loads what the rules read, or nil on the embedded catalog.
func cutoverInput(ctx context.Context, s *session) (*app.App, *sql.DB, *cutover.Input, error) {
	a, err := s.App(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if a.Catalog.Dialect() != "mssql" {
		return a, nil, nil, nil
	}
	db, ok := sqlPool(a.Catalog)
	if !ok {
		return nil, nil, nil, errors.New("cutover: the T-SQL catalog does not expose its connection pool (SQL())")
	}
	in, err := cutover.Load(ctx, tsqlviews.New(db), cutover.Options{ServiceQueues: a.Config.BrokerQueues})
	if err != nil {
		return nil, nil, nil, err
	}
	return a, db, in, nil
}

// sqlPool finds the dialect's pool under the wrappers (the retry policy)
// around it.
func sqlPool(c catalog.Catalog) (*sql.DB, bool) {
	for c != nil {
		if h, ok := c.(sqlHandle); ok {
			return h.SQL(), true
		}
		u, ok := c.(interface{ Unwrap() catalog.Catalog })
		if !ok {
			return nil, false
		}
		c = u.Unwrap()
	}
	return nil, false
}

func cutoverAssessCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	asJSON := fs.Bool("json", false, "print the report as JSON (findings, counts by rule, blockers, verdict)")
	return func(ctx context.Context, s *session, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
		}
		_, _, in, err := cutoverInput(ctx, s)
		if err != nil {
			return err
		}
		r := cutover.Report{Verdict: embeddedNothing, Findings: []cutover.Finding{}, Counts: []cutover.RuleCount{}}
		if in != nil {
			r = in.Assess()
		}
		if *asJSON {
			enc := json.NewEncoder(s.Stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(r); err != nil {
				return err
			}
		} else {
			printReport(s.Stdout, r)
		}
		if r.Blockers > 0 {
			return errors.New(r.Verdict)
		}
		return nil
	}
}

// printReport writes the findings, the counts by rule and the verdict.
func printReport(w io.Writer, r cutover.Report) {
	if r.Database != "" {
		fmt.Fprintf(w, "Azure SQL Database assessment of %s (Microsoft's migration assessment rules, and Offload's own)\n\n", r.Database)
	}
	for _, f := range r.Findings {
		where := f.Object
		if f.Line > 0 {
			where = fmt.Sprintf("%s:%d", f.Object, f.Line)
		}
		fmt.Fprintf(w, "%-7s %-26s %s (%s): %s\n", f.Severity, f.Rule, where, f.Type, f.Detail)
		line := "        → " + string(f.Offload)
		if f.Suggestion != "" {
			line += ": " + f.Suggestion
		}
		fmt.Fprintln(w, line)
	}
	if len(r.Counts) > 0 {
		fmt.Fprintf(w, "\n%-36s %-8s %s\n", "rule", "category", "findings")
		for _, c := range r.Counts {
			fmt.Fprintf(w, "%-36s %-8s %d\n", c.Rule, c.Severity, c.Findings)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, r.Verdict)
}

func cutoverApplyCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	confirm := fs.Bool("confirm", false, "run the steps (without it: print the plan, change nothing)")
	dry := fs.Bool("dry-run", false, "print the plan and change nothing (the default without --confirm)")
	script := fs.String("script", "", "write the plan's T-SQL to `FILE` for a DBA to review and run instead (\"-\": stdout); changes nothing")
	return func(ctx context.Context, s *session, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
		}
		if *confirm && (*dry || *script != "") {
			return fmt.Errorf("%w: --confirm runs the steps; it goes with neither --dry-run nor --script", errUsage)
		}
		_, db, in, err := cutoverInput(ctx, s)
		if err != nil {
			return err
		}
		if in == nil {
			fmt.Fprintln(s.Stdout, "nothing to cut over: "+embeddedNothing)
			return nil
		}
		p := in.PlanApply()
		if *script != "" {
			return writeScript(s, p, *script)
		}
		printPlan(s.Stdout, p)
		if p.Refused() {
			return fmt.Errorf("refused: %s", strings.Join(p.Refusals, "; "))
		}
		if !*confirm {
			fmt.Fprintln(s.Stdout, "dry run: nothing changed; run with --confirm to apply, or --script FILE to write the T-SQL")
			return nil
		}
		return runPlan(ctx, s, db, p)
	}
}

func printPlan(w io.Writer, p cutover.Plan) {
	for _, r := range p.Refusals {
		fmt.Fprintf(w, "refused: %s\n", r)
	}
	for _, k := range p.Kept {
		fmt.Fprintf(w, "left in place: %s\n", k)
	}
	fmt.Fprintf(w, "plan for %s: %d step(s)\n", p.Database, len(p.Steps))
	for i, st := range p.Steps {
		fmt.Fprintf(w, "%3d. %s: %s\n     why: %s\n", i+1, st.Part, st.Title, st.Why)
	}
}

func writeScript(s *session, p cutover.Plan, path string) error {
	if p.Refused() {
		printPlan(s.Stderr, p)
		return fmt.Errorf("refused, no script written: %s", strings.Join(p.Refusals, "; "))
	}
	if path == "-" {
		return p.Script(s.Stdout)
	}
	var b strings.Builder
	if err := p.Script(&b); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write script: %w", err)
	}
	fmt.Fprintf(s.Stdout, "wrote %d step(s) to %s: review it, then run it on the database (sqlcmd -i %s); it can run again after a failure\n", len(p.Steps), path, path)
	return nil
}

// runPlan runs the steps on one connection, reporting each.
func runPlan(ctx context.Context, s *session, db *sql.DB, p cutover.Plan) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("cutover: %w", err)
	}
	defer conn.Close()
	err = p.Run(ctx, conn, func(i int, st cutover.Step) {
		fmt.Fprintf(s.Stdout, "done %d/%d: %s: %s\n", i+1, len(p.Steps), st.Part, st.Title)
	})
	if err != nil {
		return fmt.Errorf("%w\n(every step is re-runnable: fix the cause and run `offload cutover apply --confirm` again)", err)
	}
	fmt.Fprintln(s.Stdout, "cutover apply: every step done; run `offload cutover assess` to see what is left")
	return nil
}
