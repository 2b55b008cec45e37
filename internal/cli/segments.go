package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"github.com/hartonomous/offload/functions"
	"maps"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/hartonomous/offload/internal/app"
	"github.com/hartonomous/offload/internal/atoms"
	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/progress"
	"github.com/hartonomous/offload/internal/segments"
)

// tuningFlags adds --block-size-mib and --concurrency, read when the app opens.
func tuningFlags(fs *flag.FlagSet) func() app.Tuning {
	bs := fs.Int("block-size-mib", 4, "block size in MiB (catalog chunk and staged block)")
	cc := fs.Int("concurrency", 4, "blocks staged in parallel per item")
	return func() app.Tuning { return app.Tuning{BlockSize: int64(*bs) << 20, Concurrency: *cc} }
}

// selectionFlags adds --model-id, --layer-id and --limit.
func selectionFlags(fs *flag.FlagSet, model, layer *int64, limit *int) {
	fs.Int64Var(model, "model-id", 0, "only this ModelId")
	fs.Int64Var(layer, "layer-id", 0, "only this LayerId")
	fs.IntVar(limit, "limit", 0, "at most this many segments (0: all)")
}

func segEnqueueCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	var p segments.EnqueueParams
	selectionFlags(fs, &p.ModelID, &p.LayerID, &p.Limit)
	fs.BoolVar(&p.DryRun, "dry-run", false, "queue nothing; print count, bytes, largest payload and a cost estimate")
	asJSON := fs.Bool("json", false, "print JSON")
	return func(ctx context.Context, s *session, args []string) error {
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		res, err := a.Segments.Enqueue(ctx, p)
		if *asJSON {
			printJSON(s, res)
		} else {
			printEnqueue(s, res)
		}
		return err
	}
}

func printEnqueue(s *session, r segments.EnqueueResult) {
	w := tabwriter.NewWriter(s.Stdout, 0, 0, 2, ' ', 0)
	verb := "queued"
	if r.DryRun {
		verb = "would queue"
	}
	fmt.Fprintf(w, "segments\t%d\t(%s %d)\n", r.Segments, verb, max(r.Queued, r.Segments*boolInt(r.DryRun)))
	fmt.Fprintf(w, "bytes\t%s\t(%d)\n", progress.Bytes(r.TotalBytes), r.TotalBytes)
	fmt.Fprintf(w, "largest payload\t%s\t(segment %d)\n", progress.Bytes(r.LargestBytes), r.LargestID)
	for _, c := range r.MonthlyCost {
		fmt.Fprintf(w, "est. monthly, %s tier\t$%.4f\t(%.5f USD/GB-month)\n", c.Tier, c.USD, c.USDPerGBMo)
	}
	w.Flush()
	fmt.Fprintf(s.Stdout, "(%s)\n", r.PriceNote)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func segMigrateCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	workers := fs.Int("workers", 4, "segments migrated at once")
	id := fs.Int64("id", 0, "migrate this one segment directly, without the queue")
	follow := fs.Bool("follow", false, "keep polling the queue instead of stopping when it is empty")
	dry := fs.Bool("dry-run", false, "print how many messages are waiting, migrate nothing")
	visibility := fs.Duration("visibility", 5*time.Minute, "how long a received message stays invisible (renewed while it is handled); a killed worker's messages reappear after this")
	claimTTL := fs.Duration("claim-ttl", segments.DefaultClaimTTL, "how long a segment claim lasts (renewed every third of it); a killed worker's claims expire after this")
	tune := tuningFlags(fs)
	return func(ctx context.Context, s *session, args []string) error {
		s.tuning = tune()
		s.tuning.ClaimTTL = *claimTTL
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		if *id > 0 {
			if *dry {
				seg, err := a.Catalog.GetSegment(ctx, *id)
				if err != nil {
					return err
				}
				fmt.Fprintf(s.Stdout, "would migrate segment %d (%s, state %s) to %s/%s\n", seg.ID, progress.Bytes(seg.PayloadBytes), seg.State, a.Config.TensorsContainer, segments.BlobName(seg))
				return nil
			}
			res, err := a.Segments.Migrate(ctx, *id)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.Stdout, "segment %d: %s (%s, sha256 %s)\n", res.SegmentID, res.Outcome, progress.Bytes(res.Bytes), res.Sha256)
			return nil
		}
		if err := a.Broker.Ensure(ctx, a.Config.SegmentQueue); err != nil {
			return err
		}
		n, err := a.Broker.Count(ctx, a.Config.SegmentQueue)
		if err != nil {
			return err
		}
		if *dry {
			fmt.Fprintf(s.Stdout, "%d message(s) waiting in %s; nothing migrated (dry run)\n", n, a.Config.SegmentQueue)
			return nil
		}
		st, err := drain(ctx, s, a, *workers, *visibility, !*follow, n, queuedBytes(ctx, a))
		printMigrateSummary(s, st)
		if err == nil && (st.failed > 0 || st.poisoned > 0) {
			err = fmt.Errorf("%d segment message(s) failed, %d moved to %s", st.failed, st.poisoned, a.Config.PoisonQueue())
		}
		return err
	}
}

// queuedBytes sums the payload bytes of queued segments, for the progress
// bar's total (best effort).
func queuedBytes(ctx context.Context, a *app.App) int64 {
	var total int64
	f := catalog.SegmentFilter{States: []catalog.State{catalog.StateQueued}, Limit: 1000}
	for {
		rows, err := a.Catalog.ListSegments(ctx, f)
		if err != nil || len(rows) == 0 {
			return total
		}
		for _, r := range rows {
			total += r.PayloadBytes
		}
		f.AfterID = rows[len(rows)-1].ID
	}
}

type migrateStats struct {
	mu                                  sync.Mutex
	migrated, skipped, failed, poisoned int64
	bytes                               int64
	wall                                time.Duration
}

// drain runs the local worker over the segment queue: the same handler as
// the MigrateSegment function, with the host's retry and poison rules.
func drain(ctx context.Context, s *session, a *app.App, workers int, visibility time.Duration, stopWhenEmpty bool, items, bytes int64) (*migrateStats, error) {
	st := &migrateStats{}
	bar := progress.New(s.Stdout, "migrate", items, bytes)
	start := time.Now()
	stats, err := a.Broker.Work(ctx, broker.WorkerConfig{
		Queue: a.Config.SegmentQueue, Workers: workers, Visibility: visibility, MaxDequeueCount: 5,
		StopWhenEmpty: stopWhenEmpty, Logger: s.log,
	}, func(ctx context.Context, m broker.Message) error {
		res, err := a.Segments.HandleMessage(ctx, m.Body)
		st.mu.Lock()
		defer st.mu.Unlock()
		switch {
		case err != nil:
			s.log.Warn("segment migration failed", "messageId", m.ID, "dequeueCount", m.DequeueCount, "err", err)
			fmt.Fprintf(s.Stderr, "segment message %s (attempt %d): %v\n", m.ID, m.DequeueCount, err)
			bar.Add(0, 0, false)
		case res.Outcome == segments.OutcomeMigrated:
			st.migrated++
			st.bytes += res.Bytes
			bar.Add(1, res.Bytes, false)
		default:
			st.skipped++
			bar.Add(1, 0, false)
		}
		return err
	})
	bar.Done()
	st.wall = time.Since(start)
	st.failed, st.poisoned = stats.Failed, stats.Poisoned
	return st, err
}

func printMigrateSummary(s *session, st *migrateStats) {
	w := tabwriter.NewWriter(s.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "migrated\t%d\n", st.migrated)
	fmt.Fprintf(w, "skipped (already done / busy)\t%d\n", st.skipped)
	fmt.Fprintf(w, "failed attempts\t%d\n", st.failed)
	fmt.Fprintf(w, "poisoned\t%d\n", st.poisoned)
	fmt.Fprintf(w, "bytes\t%s\n", progress.Bytes(st.bytes))
	fmt.Fprintf(w, "throughput\t%s\n", progress.Rate(st.bytes, st.wall))
	fmt.Fprintf(w, "wall time\t%s\n", st.wall.Round(time.Millisecond))
	w.Flush()
}

func segVerifyCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	var p segments.VerifyParams
	fs.DurationVar(&p.Budget, "budget", 4*time.Minute, "stop starting new checks after this long")
	fs.IntVar(&p.Batch, "batch", 200, "rows of each kind per run")
	fs.IntVar(&p.Sample, "sample", 2, "verified rows fully re-hashed per run")
	fs.DurationVar(&p.CheapEvery, "cheap-every", 24*time.Hour, "cheap-check verified rows not checked for this long")
	fs.DurationVar(&p.RequeueAfter, "requeue-after", 30*time.Minute, "re-queue unmigrated segments whose message is older than this")
	fs.BoolVar(&p.DryRun, "dry-run", false, "check and report, record and re-queue nothing")
	asJSON := fs.Bool("json", false, "print JSON")
	return func(ctx context.Context, s *session, args []string) error {
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		rep, err := a.Segments.Verify(ctx, p, functions.AtomVerifier(a.Atoms))
		if *asJSON {
			printJSON(s, rep)
		} else {
			printVerify(s, rep)
		}
		if err == nil && rep.Lost > 0 {
			err = fmt.Errorf("%d segment(s) LOST: blob missing or wrong after the source was released", rep.Lost)
		}
		return err
	}
}

func printVerify(s *session, r segments.VerifyReport) {
	w := tabwriter.NewWriter(s.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "fully checked (read back)\t%d\n", r.FullChecked)
	fmt.Fprintf(w, "cheap checks (exists, size, ETag)\t%d\n", r.CheapChecked)
	fmt.Fprintf(w, "verified\t%d\n", r.Verified)
	fmt.Fprintf(w, "mismatched, re-queued\t%d\n", r.Mismatched)
	fmt.Fprintf(w, "lost\t%d\n", r.Lost)
	fmt.Fprintf(w, "queued (overdue or never queued)\t%d\n", r.Requeued)
	fmt.Fprintf(w, "bytes hashed\t%s\n", progress.Bytes(r.BytesHashed))
	fmt.Fprintf(w, "atoms checked / failed\t%d / %d\n", r.AtomsChecked, r.AtomsFailed)
	if r.OutOfBudget {
		fmt.Fprintf(w, "stopped at the time budget\tyes\n")
	}
	w.Flush()
	for _, e := range r.Errors {
		fmt.Fprintln(s.Stderr, "verify:", e)
	}
}

func segStatusCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	asJSON := fs.Bool("json", false, "print JSON (the SegmentStatus function's answer)")
	return func(ctx context.Context, s *session, args []string) error {
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		st, err := functions.Status(ctx, functions.Deps{Segments: a.Segments, Atoms: a.Atoms, Outbox: a.Outbox})
		if err != nil {
			return err
		}
		if *asJSON {
			printJSON(s, st)
		} else {
			printStatus(s, st.Status)
			if st.Atoms != nil {
				printAtomStatus(s, *st.Atoms)
			}
			if ob := st.Outbox; ob != nil {
				fmt.Fprintf(s.Stdout, "outbox: %d pending, %d sent, %d failed", ob.Pending, ob.Sent, ob.Failed)
				if ob.OldestPendingAt != nil {
					fmt.Fprintf(s.Stdout, ", oldest pending waiting %s", (time.Duration(ob.OldestPendingAgeSeconds) * time.Second).String())
				}
				fmt.Fprintln(s.Stdout, " (offload messages status)")
			}
		}
		if st.Lost > 0 {
			return fmt.Errorf("%d segment(s) LOST", st.Lost)
		}
		return nil
	}
}

func printStatus(s *session, st segments.Status) {
	w := tabwriter.NewWriter(s.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(w, "model\tname\t")
	for _, state := range catalog.AllStates {
		fmt.Fprintf(w, "%s\t", state)
	}
	fmt.Fprint(w, "payload\tblobs\t\n")
	row := func(id, name string, states map[catalog.State]segments.StateCount, total segments.StateCount) {
		fmt.Fprintf(w, "%s\t%s\t", id, name)
		for _, state := range catalog.AllStates {
			fmt.Fprintf(w, "%d\t", states[state].Segments)
		}
		fmt.Fprintf(w, "%s\t%s\t\n", progress.Bytes(total.PayloadBytes), progress.Bytes(total.BlobBytes))
	}
	for _, m := range st.Models {
		row(fmt.Sprint(m.ModelID), m.ModelName, m.States, m.Total)
	}
	row("all", "", st.Totals, st.Total)
	w.Flush()
	if st.LastVerifiedAt != nil {
		fmt.Fprintf(s.Stdout, "last verification: %s\n", st.LastVerifiedAt.Format(time.RFC3339))
	}
	fmt.Fprintf(s.Stdout, "remaining: %s", progress.Bytes(st.RemainingBytes))
	if st.ETASeconds != nil {
		fmt.Fprintf(s.Stdout, ", %s/s over the last hour, ETA %s", progress.Bytes(int64(st.ThroughputBytesPerSec)), (time.Duration(*st.ETASeconds) * time.Second).String())
	}
	fmt.Fprintln(s.Stdout)
	if st.Lost > 0 {
		fmt.Fprintf(s.Stdout, "!!! %d segment(s) LOST: their blob is missing or wrong and the source was released\n", st.Lost)
	}
}

// printAtomStatus prints the atoms section: one row per modality.
func printAtomStatus(s *session, st atoms.Status) {
	w := tabwriter.NewWriter(s.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(w, "atoms\tfiles\tlinked\tverified\tfailed\tbytes\t\n")
	row := func(name string, c atoms.Count) {
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%s\t\n", name, c.Atoms, c.Linked, c.Verified, c.Failed, progress.Bytes(c.Bytes))
	}
	for _, m := range slices.Sorted(maps.Keys(st.ByModality)) {
		row(m, st.ByModality[m])
	}
	row("all", st.Total)
	w.Flush()
}

func segReleaseCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	var p segments.ReleaseParams
	selectionFlags(fs, &p.ModelID, &p.LayerID, &p.Limit)
	fs.BoolVar(&p.Confirm, "confirm", false, "really empty RawPayload (without it: a dry run)")
	dry := fs.Bool("dry-run", false, "show what would be freed (the default without --confirm)")
	return func(ctx context.Context, s *session, args []string) error {
		if *dry {
			p.Confirm = false
		}
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		res, err := a.Segments.Release(ctx, p)
		verb := "released"
		if res.DryRun {
			verb = "would release"
		}
		fmt.Fprintf(s.Stdout, "%s %d segment(s), %s; skipped %d (not verified or changed since)\n", verb, res.Segments, progress.Bytes(res.Bytes), res.Skipped)
		switch {
		case res.Mismatched > 0 && res.DryRun:
			fmt.Fprintf(s.Stdout, "%d blob(s) no longer match what was verified: would be marked mismatch and re-queued\n", res.Mismatched)
		case res.Mismatched > 0:
			fmt.Fprintf(s.Stdout, "%d blob(s) no longer match what was verified: marked mismatch, source kept, %d re-queued\n", res.Mismatched, res.Requeued)
		}
		if res.DryRun {
			fmt.Fprintln(s.Stdout, "dry run: nothing changed; run with --confirm to release")
		}
		return err
	}
}

func segOrphansCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	var p segments.OrphanParams
	fs.BoolVar(&p.Delete, "delete", false, "delete orphans older than --older-than")
	fs.DurationVar(&p.OlderThan, "older-than", 0, "with --delete: only blobs last modified before this long ago (e.g. 24h)")
	dry := fs.Bool("dry-run", false, "list only, even with --delete")
	return func(ctx context.Context, s *session, args []string) error {
		if *dry {
			p.Delete = false
		}
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(s.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "blob\tsize\tlast modified\treason\tdeleted")
		var n, bytes int64
		err = a.Segments.Orphans(ctx, p, func(o segments.Orphan) {
			n++
			bytes += o.Size
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\n", o.Name, progress.Bytes(o.Size), o.LastModified.Format(time.RFC3339), o.Reason, o.Deleted)
		})
		w.Flush()
		fmt.Fprintf(s.Stdout, "%d orphan(s), %s\n", n, progress.Bytes(bytes))
		return err
	}
}

func printJSON(s *session, v any) {
	enc := json.NewEncoder(s.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
