package cli

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os/signal"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hartonomous/offload/internal/outbox"
)

func messagesDrainCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	follow := fs.Bool("follow", false, "keep draining as messages are published, until interrupted")
	dry := fs.Bool("dry-run", false, "check the pending messages and say what a drain would do; send and change nothing")
	budget := fs.Duration("budget", outbox.DefaultBudget, "without --follow: stop starting new passes after this long")
	asJSON := fs.Bool("json", false, "print JSON")
	claimTTL := fs.Duration("claim-ttl", outbox.DefaultClaimTTL, "how long this drainer's claims on messages last; a killed drainer's messages are sent again after this")
	return func(ctx context.Context, s *session, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
		}
		s.tuning.OutboxClaimTTL = *claimTTL
		if *follow && *dry {
			return fmt.Errorf("%w: --follow and --dry-run do not go together", errUsage)
		}
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		if *follow {
			ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			fmt.Fprintln(s.Stdout, "draining the outbox until interrupted (Ctrl-C)")
			return a.Outbox.Follow(ctx, outbox.FollowParams{Report: func(r outbox.DrainResult) {
				fmt.Fprintf(s.Stdout, "%s sent %d, failed %d, retrying %d\n", time.Now().Format(time.TimeOnly), r.Sent, r.Failed, r.Retried)
				for _, f := range r.Failures {
					fmt.Fprintln(s.Stderr, "failed:", f)
				}
			}})
		}
		res, err := a.Outbox.Drain(ctx, outbox.DrainParams{Budget: *budget, DryRun: *dry})
		if *asJSON {
			printJSON(s, res)
		} else {
			printDrain(s, res)
		}
		if err == nil && res.Failed > 0 {
			err = fmt.Errorf("%d message(s) can never be sent and were marked failed (see above)", res.Failed)
		}
		return err
	}
}

func printDrain(s *session, r outbox.DrainResult) {
	w := tabwriter.NewWriter(s.Stdout, 0, 0, 2, ' ', 0)
	if r.DryRun {
		fmt.Fprintf(w, "would send\t%d\n", r.WouldSend)
		fmt.Fprintf(w, "would fail\t%d\n", r.WouldFail)
		w.Flush()
		for _, f := range r.Failures {
			fmt.Fprintln(s.Stdout, "would fail:", f)
		}
		fmt.Fprintln(s.Stdout, "dry run: nothing sent, nothing changed")
		return
	}
	fmt.Fprintf(w, "sent\t%d\n", r.Sent)
	fmt.Fprintf(w, "failed (never sendable)\t%d\n", r.Failed)
	fmt.Fprintf(w, "send failures, retried later\t%d\n", r.Retried)
	fmt.Fprintf(w, "purged (sent, past retention)\t%d\n", r.Purged)
	fmt.Fprintf(w, "passes\t%d\n", r.Passes)
	w.Flush()
	for _, f := range r.Failures {
		fmt.Fprintln(s.Stderr, "failed:", f)
	}
}

func messagesStatusCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	asJSON := fs.Bool("json", false, "print JSON (the outbox object of GET api/segments/status)")
	return func(ctx context.Context, s *session, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
		}
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		st, err := a.Outbox.Status(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			printJSON(s, st)
			return nil
		}
		printOutboxStatus(s, st)
		return nil
	}
}

func printOutboxStatus(s *session, st outbox.Status) {
	w := tabwriter.NewWriter(s.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(w, "queue\tpending\tsent\tfailed\t\n")
	for _, q := range slices.Sorted(maps.Keys(st.Queues)) {
		c := st.Queues[q]
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t\n", q, c.Pending, c.Sent, c.Failed)
	}
	fmt.Fprintf(w, "all\t%d\t%d\t%d\t\n", st.Pending, st.Sent, st.Failed)
	w.Flush()
	if st.OldestPendingAt != nil {
		fmt.Fprintf(s.Stdout, "oldest pending message: published %s, waiting %s\n", st.OldestPendingAt.Format(time.RFC3339),
			(time.Duration(st.OldestPendingAgeSeconds) * time.Second).String())
	} else {
		fmt.Fprintln(s.Stdout, "no message is waiting")
	}
}
