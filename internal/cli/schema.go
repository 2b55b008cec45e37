package cli

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/files"
)

// batchExecer is implemented by catalogs that can run T-SQL batches (SQL
// Server / Azure SQL): the file procedures need sp_invoke_external_rest_endpoint.
type batchExecer interface {
	ExecBatches(ctx context.Context, batches []string) error
}

// sqlDB is implemented by catalogs on a database/sql pool (SQL Server /
// Azure SQL), which schema apply asks whether it has BASE64_ENCODE.
type sqlDB interface {
	SQL() *sql.DB
}

func schemaApplyCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	dry := fs.Bool("dry-run", false, "print the statements without running them")
	procs := fs.Bool("with-file-procs", false, "also create the dbo.usp_* file procedures and dbo.usp_PublishMessageNow, which call the Function App (Azure SQL only)")
	url := fs.String("function-url", "", "base URL of the Function App, e.g. https://myapp.azurewebsites.net (with --with-file-procs)")
	cred := fs.String("credential", "", "DATABASE SCOPED CREDENTIAL name for the function URL (default: the function URL, as sp_invoke_external_rest_endpoint requires)")
	sign := fs.Bool("sign", false, "with --with-file-procs: also run sql/signing.sql (callers get EXECUTE only; the credential must exist)")
	return func(ctx context.Context, s *session, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
		}
		if *procs && *url == "" {
			return fmt.Errorf("%w: --with-file-procs needs --function-url URL", errUsage)
		}
		if *sign && !*procs {
			return fmt.Errorf("%w: --sign goes with --with-file-procs", errUsage)
		}
		params := files.ProcsParams{FunctionURL: *url, Credential: *cred}
		if *procs {
			// Checked before connecting: a bad URL is a usage error.
			if _, err := files.ProcsSQL(params); err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
		}
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		// Refused before anything is applied. The dialect under the
		// retries runs the batches (the scripts can run again whole).
		be, isBatch := dialectOf(a.Catalog).(batchExecer)
		db, isSQL := dialectOf(a.Catalog).(sqlDB)
		if *procs && (!isBatch || !isSQL) {
			return errors.New("--with-file-procs needs Azure SQL / SQL Server (sp_invoke_external_rest_endpoint); the embedded catalog has none")
		}
		stmts, err := a.Catalog.Apply(ctx, catalog.ApplyParams{DryRun: *dry})
		if err != nil {
			return err
		}
		verb := "applied"
		if *dry {
			verb = "would apply"
		}
		for _, st := range stmts {
			fmt.Fprintf(s.Stdout, "%s;\n", st)
		}
		fmt.Fprintf(s.Stdout, "-- schema (%s): %s %d statement(s)\n", a.Catalog.Dialect(), verb, len(stmts))
		if err := applyProcs(ctx, s, a.Catalog, *dry); err != nil {
			return err
		}
		if !*procs {
			return nil
		}
		return applyFileProcs(ctx, s, be, db, params, *sign, *dry)
	}
}

// dialectOf is the catalog under any wrapper (the retries).
func dialectOf(c catalog.Catalog) catalog.Catalog {
	for {
		u, ok := c.(interface{ Unwrap() catalog.Catalog })
		if !ok {
			return c
		}
		c = u.Unwrap()
	}
}

// applyProcs (re)creates the procedures that need only the schema
// (dbo.usp_PublishMessage, the outbox) on dialects that have procedures.
func applyProcs(ctx context.Context, s *session, cat catalog.Catalog, dry bool) error {
	pa, ok := cat.(catalog.ProcApplier)
	if !ok {
		return nil
	}
	batches, err := pa.ApplyProcs(ctx, catalog.ApplyParams{DryRun: dry})
	if err != nil {
		return err
	}
	if dry {
		for _, b := range batches {
			fmt.Fprintf(s.Stdout, "%s\nGO\n", b)
		}
		fmt.Fprintf(s.Stdout, "-- outbox procedure dbo.usp_PublishMessage: would run %d batch(es)\n", len(batches))
		return nil
	}
	fmt.Fprintf(s.Stdout, "-- outbox procedure dbo.usp_PublishMessage: ran %d batch(es)\n", len(batches))
	return nil
}

func schemaFinalizeCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	dry := fs.Bool("dry-run", false, "say whether finalize would run, change nothing")
	return func(ctx context.Context, s *session, args []string) error {
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		n, err := a.Catalog.Finalize(ctx, catalog.FinalizeParams{DryRun: *dry})
		if errors.Is(err, catalog.ErrConflict) {
			return fmt.Errorf("refused: %d segment(s) are not released yet; RawPayload and PayloadRowGuid stay", n)
		}
		if err != nil {
			return err
		}
		if *dry {
			fmt.Fprintln(s.Stdout, "every segment is released: finalize would drop RawPayload and PayloadRowGuid")
			return nil
		}
		fmt.Fprintln(s.Stdout, "dropped RawPayload and PayloadRowGuid: every segment was released")
		return nil
	}
}

// applyFileProcs renders the file procedures with the base64 form the
// database has (and their signing), and runs them.
func applyFileProcs(ctx context.Context, s *session, be batchExecer, db sqlDB, params files.ProcsParams, sign, dry bool) error {
	var err error
	if params.Base64, err = files.DetectBase64(ctx, db.SQL()); err != nil {
		return err
	}
	script, err := files.ProcsSQL(params)
	if err != nil {
		return err
	}
	if sign {
		signing, err := files.SigningSQL(params.FunctionURL, params.Credential)
		if err != nil {
			return err
		}
		script += signing
	}
	batches := files.Batches(script)
	fmt.Fprintf(s.Stdout, "-- file procedures: base64 with %s\n", params.Base64)
	if dry {
		fmt.Fprintln(s.Stdout, script)
		fmt.Fprintf(s.Stdout, "-- file procedures: would run %d batch(es)\n", len(batches))
		return nil
	}
	if err := be.ExecBatches(ctx, batches); err != nil {
		return fmt.Errorf("file procedures: %w", err)
	}
	if sign {
		fmt.Fprintf(s.Stdout, "-- file procedures: created and signed, %d batch(es)\n", len(batches))
		return nil
	}
	fmt.Fprintf(s.Stdout, "-- file procedures: created %d batch(es); now sign them (--sign, or sql/signing.sql): ALTER PROCEDURE drops dbo.usp_OffloadInvoke's signature\n", len(batches))
	return nil
}
