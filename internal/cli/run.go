package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/hartonomous/offload/functions"
	"github.com/hartonomous/offload/internal/app"
	"github.com/hartonomous/offload/internal/atoms"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/demo"
	"github.com/hartonomous/offload/internal/progress"
	"github.com/hartonomous/offload/internal/segments"
)

func runCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	var o runOptions
	fs.IntVar(&o.workers, "workers", 4, "segments migrated at once")
	fs.BoolVar(&o.dry, "dry-run", false, "print the plan (counts, bytes, cost), migrate nothing")
	fs.BoolVar(&o.noAtoms, "skip-atoms", false, "do not upload and link atom files (models, images, audio, …)")
	fs.BoolVar(&o.noAtoms, "skip-models", false, "the same as --skip-atoms (its former name)")
	fs.BoolVar(&o.noDemo, "no-demo", false, "never seed the demo data set, even into an empty catalog")
	fs.BoolVar(&o.release, "release", false, "after verification, release (empty RawPayload of) every verified segment")
	fs.BoolVar(&o.finalize, "finalize", false, "then drop RawPayload and PayloadRowGuid if every segment is released (implies --release)")
	tune := tuningFlags(fs)
	return func(ctx context.Context, s *session, args []string) error {
		s.tuning = tune()
		start := time.Now()
		stop, err := useLocalDefaults(ctx, s)
		if err != nil {
			return err
		}
		defer stop()
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		if err := runPrepare(ctx, s, a, o); err != nil {
			return err
		}
		if queued, err := runQueue(ctx, s, a, o.dry); err != nil || !queued {
			return err
		}

		// 3. Migrate: drain the queue with the local worker.
		items, _ := a.Broker.Count(ctx, a.Config.SegmentQueue)
		st, migErr := drain(ctx, s, a, o.workers, 0, true, items, queuedBytes(ctx, a))

		// 4. Atom files of every modality, when the catalog has any.
		var atomErr error
		if !o.noAtoms {
			atomErr = runAtoms(ctx, s, a)
		}

		// 5. A short verification pass: everything just migrated is read back.
		fmt.Fprintln(s.Stdout, "\nverify:")
		rep, verErr := a.Segments.Verify(ctx, segments.VerifyParams{Budget: 10 * time.Minute, Batch: 100000}, functions.AtomVerifier(a.Atoms))
		printVerify(s, rep)

		// 6. Release and finalize, only when asked: they free the source.
		var relErr error
		if (o.release || o.finalize) && verErr == nil {
			relErr = runRelease(ctx, s, a, o.finalize)
		}

		statusErr := printRunSummary(ctx, s, a, st, rep, time.Since(start))
		err = errors.Join(migErr, atomErr, verErr, relErr, statusErr)
		if err == nil && (st.failed > 0 || st.poisoned > 0 || rep.Mismatched > 0 || rep.Lost > 0) {
			err = fmt.Errorf("%d failed, %d poisoned, %d mismatched, %d lost", st.failed, st.poisoned, rep.Mismatched, rep.Lost)
		}
		return err
	}
}

// runOptions are offload run's flags.
type runOptions struct {
	workers              int
	dry, noAtoms, noDemo bool
	release, finalize    bool
}

// runPrepare is run's step 1: demo data where the catalog is empty (the
// embedded demo catalog, or a database without Hartonomous rows: the demo
// creates the tables there), then Offload's schema, and storage prepared.
func runPrepare(ctx context.Context, s *session, a *app.App, o runOptions) error {
	if !o.dry && !o.noDemo {
		// Absolute locators, as a real catalog has them: the Files
		// API finds an atom's file by such a path.
		state, err := filepath.Abs(localStateDir)
		if err != nil {
			return err
		}
		seeder, err := catalog.SeederOf(a.Catalog)
		if err != nil {
			return fmt.Errorf("demo seed: %w", err)
		}
		sum, err := demo.Seed(ctx, seeder, demo.Options{ModelFilesDir: filepath.Join(state, "models"),
			MediaFilesDir: filepath.Join(state, "media")})
		if err != nil {
			return fmt.Errorf("demo seed: %w", err)
		}
		if !sum.Skipped {
			fmt.Fprint(s.Stdout, "demo:     ")
			printSeed(s, sum)
		}
	}
	stmts, err := a.Catalog.Apply(ctx, catalog.ApplyParams{DryRun: o.dry})
	if err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	fmt.Fprintf(s.Stdout, "schema:   %d statement(s) applied on %s\n", len(stmts), a.Catalog.Dialect())
	if o.dry {
		return nil
	}
	if pa, ok := a.Catalog.(catalog.ProcApplier); ok {
		if _, err := pa.ApplyProcs(ctx, catalog.ApplyParams{}); err != nil {
			return fmt.Errorf("schema: %w", err)
		}
	}
	return a.Prepare(ctx)
}

// runQueue is run's step 2: it prints the plan and, unless dry, queues
// every segment (queued: the run goes on).
func runQueue(ctx context.Context, s *session, a *app.App, dry bool) (queued bool, err error) {
	plan, err := a.Segments.Enqueue(ctx, segments.EnqueueParams{DryRun: true})
	if err != nil {
		return false, err
	}
	fmt.Fprintln(s.Stdout, "\nplan:")
	printEnqueue(s, plan)
	if dry {
		fmt.Fprintln(s.Stdout, "dry run: nothing queued or migrated")
		return false, nil
	}
	enq, err := a.Segments.Enqueue(ctx, segments.EnqueueParams{})
	if err != nil {
		return false, fmt.Errorf("enqueue: %w", err)
	}
	fmt.Fprintf(s.Stdout, "queued:   %d segment(s), %s\n\n", enq.Queued, progress.Bytes(enq.TotalBytes))
	return true, nil
}

// runRelease is run's step 6: release every verified segment and, when
// asked, finalize.
func runRelease(ctx context.Context, s *session, a *app.App, finalize bool) error {
	fmt.Fprintln(s.Stdout, "\nrelease:")
	res, err := a.Segments.Release(ctx, segments.ReleaseParams{Confirm: true})
	fmt.Fprintf(s.Stdout, "released: %d segment(s), %s; skipped %d\n", res.Segments, progress.Bytes(res.Bytes), res.Skipped)
	if res.Mismatched > 0 {
		fmt.Fprintf(s.Stdout, "mismatch: %d blob(s) changed since verified: source kept, %d re-queued\n", res.Mismatched, res.Requeued)
	}
	if err != nil || !finalize {
		return err
	}
	n, err := a.Catalog.Finalize(ctx, catalog.FinalizeParams{})
	switch {
	case errors.Is(err, catalog.ErrConflict):
		return fmt.Errorf("finalize refused: %d segment(s) not released", n)
	case err != nil:
		return fmt.Errorf("finalize: %w", err)
	}
	fmt.Fprintln(s.Stdout, "finalize: dropped RawPayload and PayloadRowGuid: every segment is released")
	return nil
}

// printRunSummary is run's step 7: what the run did, then the catalog's
// status (segments, and atoms when there are any).
func printRunSummary(ctx context.Context, s *session, a *app.App, st *migrateStats, rep segments.VerifyReport, wall time.Duration) error {
	status, statusErr := a.Segments.Status(ctx)
	fmt.Fprintln(s.Stdout, "\nsummary:")
	w := tabwriter.NewWriter(s.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "migrated\t%d\n", st.migrated)
	fmt.Fprintf(w, "skipped\t%d\n", st.skipped)
	fmt.Fprintf(w, "failed\t%d (poisoned %d)\n", st.failed, st.poisoned)
	fmt.Fprintf(w, "bytes\t%s\n", progress.Bytes(st.bytes))
	fmt.Fprintf(w, "throughput\t%s\n", progress.Rate(st.bytes, st.wall))
	fmt.Fprintf(w, "verified\t%d of %d read back\n", rep.Verified, rep.FullChecked)
	fmt.Fprintf(w, "wall time\t%s\n", wall.Round(time.Millisecond))
	w.Flush()
	if statusErr == nil {
		fmt.Fprintln(s.Stdout)
		printStatus(s, status)
	}
	if at, err := a.Atoms.Status(ctx); err == nil && at.Total.Atoms > 0 {
		fmt.Fprintln(s.Stdout)
		printAtomStatus(s, at)
	} else if err != nil {
		statusErr = errors.Join(statusErr, err)
	}
	fmt.Fprintf(s.Stdout, "\nlive page: %s dashboard, then open http://127.0.0.1:7072/api/dashboard\n", commandName())
	return statusErr
}

// runAtoms uploads the files named by the catalog's atoms, of every
// modality, and links them, when there are any, accounting for every atom
// in both tables.
func runAtoms(ctx context.Context, s *session, a *app.App) error {
	some, err := a.Catalog.ListAtoms(ctx, catalog.AtomFilter{Limit: 1})
	if err != nil || len(some) == 0 {
		return err
	}
	fmt.Fprintln(s.Stdout, "\natom files (models, images, audio, …):")
	_, upErr := uploadAtoms(ctx, s, a, atoms.UploadParams{FromCatalog: true}, false)
	// Link whatever was uploaded, even when some files failed: each atom
	// gets its own row and reason.
	fmt.Fprintln(s.Stdout)
	_, linkErr := linkAtoms(ctx, s, a, atoms.LinkParams{}, false)
	if upErr != nil {
		upErr = fmt.Errorf("atom upload: %w", upErr)
	}
	if linkErr != nil {
		linkErr = fmt.Errorf("atom link: %w", linkErr)
	}
	return errors.Join(upErr, linkErr)
}
