package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hartonomous/offload/internal/catalog"
)

// DrainParams bound one Drain. Zero values take the defaults.
type DrainParams struct {
	// Budget: no pass starts after it (DefaultBudget).
	Budget time.Duration
	// DryRun reads and checks, and changes nothing: no sequence, no send.
	DryRun bool
}

// DrainResult is what a Drain did.
type DrainResult struct {
	Passes int   `json:"passes"`
	Sent   int64 `json:"sent"`
	// Failed rows were marked failed (never sendable) in this drain.
	Failed int64 `json:"failed"`
	// Retried counts sends that failed and were put in back-off.
	Retried int64 `json:"retried"`
	Purged  int64 `json:"purged"`
	// Failures are the reasons of the rows failed (at most 20).
	Failures []string `json:"failures,omitempty"`
	DryRun   bool     `json:"dryRun,omitempty"`
	// WouldSend / WouldFail: a dry run's verdict on the pending rows it
	// read (at most one batch of unsequenced rows, plus every sequenced
	// one).
	WouldSend int64 `json:"wouldSend,omitempty"`
	WouldFail int64 `json:"wouldFail,omitempty"`
}

const maxFailures = 20

func (r *DrainResult) add(p passResult) {
	r.Passes++
	r.Sent += p.sent
	r.Failed += int64(len(p.failures))
	r.Retried += p.retried
	r.Purged += p.purged
	for _, f := range p.failures {
		if len(r.Failures) < maxFailures {
			r.Failures = append(r.Failures, f)
		}
	}
}

// Drain runs passes until one finds nothing more it can do now (the outbox
// is empty, or what is left is held by other drainers or in back-off), or
// the budget is spent. An error stops it; what was sent before stays sent.
func (s *Service) Drain(ctx context.Context, p DrainParams) (DrainResult, error) {
	if p.Budget <= 0 {
		p.Budget = DefaultBudget
	}
	if p.DryRun {
		return s.dryRun(ctx)
	}
	var res DrainResult
	end := time.Now().Add(p.Budget)
	for time.Now().Before(end) && ctx.Err() == nil {
		pr, err := s.pass(ctx)
		res.add(pr)
		if err != nil {
			return res, err
		}
		if !pr.progress() {
			break
		}
	}
	if res.Sent+res.Failed+res.Retried > 0 {
		s.log.Info("outbox drained", "passes", res.Passes, "sent", res.Sent, "failed", res.Failed, "retried", res.Retried, "purged", res.Purged)
	}
	return res, ctx.Err()
}

// FollowParams configure Follow.
type FollowParams struct {
	// PollMin and PollMax bound the wait between drains while the outbox
	// is idle (100ms .. 2s).
	PollMin, PollMax time.Duration
	// Report receives each drain that did something (nil: none).
	Report func(DrainResult)
}

// Follow drains until ctx is done, polling with back-off while idle. Errors
// are logged and retried after the longest poll.
func (s *Service) Follow(ctx context.Context, p FollowParams) error {
	if p.PollMin <= 0 {
		p.PollMin = 100 * time.Millisecond
	}
	if p.PollMax < p.PollMin {
		p.PollMax = max(2*time.Second, p.PollMin)
	}
	wait := p.PollMin
	for {
		res, err := s.Drain(ctx, DrainParams{})
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.Warn("outbox drain failed; retrying", "err", err)
			wait = p.PollMax
		case res.Sent+res.Failed+res.Retried > 0:
			if p.Report != nil {
				p.Report(res)
			}
			wait = p.PollMin
		default:
			wait = min(wait*2, p.PollMax)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

type passResult struct {
	sequenced, sent, retried, purged int64
	failures                         []string
}

// progress reports whether the pass changed anything: another pass may
// find more.
func (p passResult) progress() bool {
	return p.sequenced+p.sent+p.retried > 0 || len(p.failures) > 0
}

// pass is one sequence-claim-send-mark round (see the package comment).
func (s *Service) pass(ctx context.Context) (passResult, error) {
	var pr passResult
	token := newToken()
	bodies, err := s.sequence(ctx, token, &pr)
	if err != nil {
		return pr, err
	}
	// 2. Claim what earlier passes left, and list everything this pass
	//    holds, with every claim renewed from now: however long step 1
	//    took, the sends get half a ClaimTTL.
	now := s.now()
	held, lost, err := s.claim(ctx, catalog.ClaimOutboxParams{Token: token, Now: now, Until: now.Add(s.cfg.ClaimTTL),
		Limit: max(0, s.cfg.Batch-int(pr.sequenced))})
	switch {
	case err != nil || lost:
		return pr, err
	case len(held) == 0:
		return pr, s.maybePurge(ctx, &pr)
	}
	if err := s.completeBodies(ctx, held, bodies); err != nil {
		s.release(token, rowIDs(held))
		return pr, err
	}

	// 3. Each conversation's run: the held rows that follow its head
	//    without a gap. Rows behind a gap (the head is another drainer's,
	//    or in back-off) go back at once.
	runs, rest := runsOf(held)
	if len(rest) > 0 {
		s.release(token, rest)
	}
	sr := s.sendRuns(ctx, token, runs, bodies, now.Add(s.cfg.ClaimTTL/2))
	if sr.sent+sr.retried == 0 && len(runs) > 0 && sr.err == nil {
		s.log.Warn("outbox: a pass held sendable rows but sent none before half its claim time; ClaimTTL may be too short for this catalog",
			"claimTTL", s.cfg.ClaimTTL.String(), "rows", len(held))
	}
	pr.sent, pr.retried = sr.sent, sr.retried
	if sr.err != nil {
		return pr, sr.err
	}
	return pr, s.maybePurge(ctx, &pr)
}

// sequence is step 1: it sequences what became visible under token,
// failing what can never be sent, and returns the bodies it read.
func (s *Service) sequence(ctx context.Context, token string, pr *passResult) (map[int64]string, error) {
	cat := s.cfg.Catalog
	now := s.now()
	fresh, err := cat.Unsequenced(ctx, catalog.UnsequencedParams{Limit: s.cfg.Batch})
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	bodies := make(map[int64]string, len(fresh))
	var good []int64
	var bad []catalog.OutboxFailure
	for _, r := range fresh {
		if reason := s.check(r); reason != "" {
			bad = append(bad, catalog.OutboxFailure{ID: r.ID, Reason: reason})
			continue
		}
		good = append(good, r.ID)
		bodies[r.ID] = r.Message
	}
	if len(bad) > 0 {
		if _, err := cat.FailOutbox(ctx, catalog.FailOutboxParams{Failures: bad}); err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		for _, f := range bad {
			s.log.Warn("outbox message failed for good", "outboxId", f.ID, "reason", f.Reason)
			pr.failures = append(pr.failures, fmt.Sprintf("outbox row %d: %s", f.ID, f.Reason))
		}
	}
	if len(good) > 0 {
		n, err := cat.SequenceOutbox(ctx, catalog.SequenceOutboxParams{IDs: good, Token: token, Now: now, Until: now.Add(s.cfg.ClaimTTL)})
		switch {
		case errors.Is(err, catalog.ErrConflict):
			s.log.Info("outbox: another drainer sequenced at the same time; the next pass reads again")
		case err != nil:
			return nil, fmt.Errorf("outbox: %w", err)
		}
		pr.sequenced = n
	}
	return bodies, nil
}

// claim claims and lists the rows the pass holds. A claim that lost a race
// with another drainer (a deadlock victim on SQL Server) changed nothing:
// it is tried again at once, a few times, then left to the next pass
// (lost).
func (s *Service) claim(ctx context.Context, p catalog.ClaimOutboxParams) (held []catalog.OutboxRow, lost bool, err error) {
	for try := 1; ; try++ {
		held, err = s.cfg.Catalog.ClaimOutbox(ctx, p)
		if !errors.Is(err, catalog.ErrConflict) || try == 3 {
			break
		}
	}
	switch {
	case errors.Is(err, catalog.ErrConflict):
		s.log.Info("outbox: claims kept losing races with another drainer; this pass's rows wait for their claims to expire", "err", err)
		return nil, true, nil
	case err != nil:
		return nil, false, fmt.Errorf("outbox: %w", err)
	}
	return held, false, nil
}

// completeBodies reads the bodies of the held rows step 1 did not read.
func (s *Service) completeBodies(ctx context.Context, held []catalog.OutboxRow, bodies map[int64]string) error {
	var need []int64
	for _, r := range held {
		if _, ok := bodies[r.ID]; !ok {
			need = append(need, r.ID)
		}
	}
	if len(need) == 0 {
		return nil
	}
	more, err := s.cfg.Catalog.OutboxMessages(ctx, catalog.OutboxMessagesParams{IDs: need})
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	for id, m := range more {
		bodies[id] = m
	}
	return nil
}

// runsOf splits claimed rows (ordered by conversation and sequence) into
// the runs that may be sent and the ids to release.
func runsOf(held []catalog.OutboxRow) (runs [][]catalog.OutboxRow, rest []int64) {
	for i := 0; i < len(held); {
		j := i
		for j < len(held) && held[j].Conversation() == held[i].Conversation() {
			j++
		}
		conv := held[i:j]
		k := 0
		for k < len(conv) && conv[k].Sequence == conv[0].Head+int64(k) {
			k++
		}
		if k > 0 {
			runs = append(runs, conv[:k])
		}
		rest = append(rest, rowIDs(conv[k:])...)
		i = j
	}
	return runs, rest
}

func rowIDs(rows []catalog.OutboxRow) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

// release drops claims without the caller's context: a cancelled drain
// must still let go of its rows (they would wait for ClaimTTL otherwise).
func (s *Service) release(token string, ids []int64) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.cfg.Catalog.ReleaseOutbox(ctx, catalog.ReleaseOutboxParams{Token: token, IDs: ids}); err != nil {
		s.log.Warn("outbox: could not release claims; they expire on their own", "rows", len(ids), "err", err)
	}
}

type sendResult struct {
	sent, retried int64
	err           error
}

// markEvery is how many accepted rows are marked sent in one statement
// while a pass runs (the rest at its end): it bounds the re-sends after a
// crash without a round trip per message.
const markEvery = 100

// sendRuns sends the runs, Concurrency conversations at a time, each run in
// order, and marks what the queue accepted. No send starts after stopAt.
func (s *Service) sendRuns(ctx context.Context, token string, runs [][]catalog.OutboxRow, bodies map[int64]string, stopAt time.Time) sendResult {
	rs := &runSender{s: s, token: token, bodies: bodies, stopAt: stopAt}
	var g errgroup.Group
	g.SetLimit(s.cfg.Concurrency)
	for _, run := range runs {
		g.Go(func() error { rs.sendRun(ctx, run); return nil })
	}
	g.Wait()
	if rs.crashed {
		rs.res.err = errCrash
		return rs.res // a crash marks and releases nothing
	}
	if err := rs.flush(ctx, true); err != nil {
		rs.fail(err)
	}
	s.release(token, rs.unsent)
	return rs.res
}

// runSender is the state one sendRuns shares between its conversations:
// the rows the queue accepted and are not marked sent yet, the rows left
// unsent (released at the end), and the outcome.
type runSender struct {
	s      *Service
	token  string
	bodies map[int64]string
	stopAt time.Time

	mu      sync.Mutex
	res     sendResult
	acks    []catalog.OutboxSentRow
	unsent  []int64
	crashed bool
}

// sendRun sends one conversation's run in order. A failed send puts its
// row in back-off and leaves the rows behind it unsent: they wait for it.
func (rs *runSender) sendRun(ctx context.Context, run []catalog.OutboxRow) {
	for i, row := range run {
		if rs.stopped(ctx) {
			rs.leave(run[i:])
			return
		}
		qid, err := rs.s.send(ctx, row, rs.bodies[row.ID])
		if err != nil {
			rs.retry(ctx, row, err)
			rs.leave(run[i+1:])
			return
		}
		if h := rs.s.cfg.Hooks.AfterSend; h != nil {
			if err := h(row); err != nil {
				rs.mu.Lock()
				rs.crashed = true
				rs.mu.Unlock()
				return
			}
		}
		rs.mu.Lock()
		rs.acks = append(rs.acks, catalog.OutboxSentRow{ID: row.ID, QueueMessageID: qid})
		rs.mu.Unlock()
		if err := rs.flush(ctx, false); err != nil {
			rs.fail(err)
		}
	}
}

// stopped reports whether no send may start: the pass crashed or failed,
// ctx ended, or stopAt has passed.
func (rs *runSender) stopped(ctx context.Context) bool {
	rs.mu.Lock()
	stop := rs.crashed || rs.res.err != nil
	rs.mu.Unlock()
	return stop || ctx.Err() != nil || !rs.s.now().Before(rs.stopAt)
}

// leave records rows as unsent.
func (rs *runSender) leave(rows []catalog.OutboxRow) {
	rs.mu.Lock()
	rs.unsent = append(rs.unsent, rowIDs(rows)...)
	rs.mu.Unlock()
}

// fail records the pass's first error.
func (rs *runSender) fail(err error) {
	rs.mu.Lock()
	if rs.res.err == nil {
		rs.res.err = err
	}
	rs.mu.Unlock()
}

// retry puts a row whose send failed in back-off, even when ctx has ended.
func (rs *runSender) retry(ctx context.Context, row catalog.OutboxRow, err error) {
	s := rs.s
	s.log.Warn("outbox: send failed; the conversation waits for the retry", "outboxId", row.ID,
		"queue", row.Queue, "attempts", row.Attempts+1, "err", err)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	rerr := s.cfg.Catalog.RetryOutbox(rctx, catalog.RetryOutboxParams{ID: row.ID, Token: rs.token,
		Error: err.Error(), RetryAt: s.now().Add(s.backoff(row.Attempts + 1))})
	rs.mu.Lock()
	rs.res.retried++
	rs.mu.Unlock()
	if rerr != nil {
		rs.fail(fmt.Errorf("outbox: %w", rerr))
	}
}

// flush marks the accepted rows sent: every markEvery rows, or all of
// them when force. It survives ctx's cancellation: what the queue
// accepted is recorded.
func (rs *runSender) flush(ctx context.Context, force bool) error {
	rs.mu.Lock()
	if len(rs.acks) == 0 || (!force && len(rs.acks) < markEvery) {
		rs.mu.Unlock()
		return nil
	}
	batch := rs.acks
	rs.acks = nil
	rs.mu.Unlock()
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	n, err := rs.s.cfg.Catalog.MarkOutboxSent(mctx, catalog.MarkOutboxSentParams{Token: rs.token, Sent: batch, Now: rs.s.now()})
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	if n < int64(len(batch)) {
		rs.s.log.Warn("outbox: claims lost before their rows were marked sent; another drainer sends them again (same id and sequence)",
			"rows", int64(len(batch))-n)
	}
	rs.mu.Lock()
	rs.res.sent += n
	rs.mu.Unlock()
	return nil
}

// send renders and sends one row, trying SendTries times with a short
// back-off. The queue is created on first use.
func (s *Service) send(ctx context.Context, row catalog.OutboxRow, doc string) (string, error) {
	body, err := Render(doc, row.MessageID, row.Sequence, row.ConversationID)
	if err != nil {
		return "", err
	}
	wait := 100 * time.Millisecond
	for try := 1; ; try++ {
		var id string
		err = s.cfg.Sender.Ensure(ctx, row.Queue)
		if err == nil {
			id, err = s.cfg.Sender.Publish(ctx, row.Queue, body, 0)
		}
		if err == nil || try >= s.cfg.SendTries || ctx.Err() != nil {
			return id, err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

// maybePurge deletes sent rows past the retention, at most every
// PurgeEvery per Service.
func (s *Service) maybePurge(ctx context.Context, pr *passResult) error {
	now := s.now()
	s.mu.Lock()
	due := s.lastPurge.IsZero() || now.Sub(s.lastPurge) >= s.cfg.PurgeEvery
	if due {
		s.lastPurge = now
	}
	s.mu.Unlock()
	if !due {
		return nil
	}
	for {
		n, err := s.cfg.Catalog.PurgeOutbox(ctx, catalog.PurgeOutboxParams{Before: now.Add(-s.cfg.Retention), Limit: s.cfg.PurgeBatch})
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		pr.purged += n
		if n < int64(s.cfg.PurgeBatch) || ctx.Err() != nil {
			if pr.purged > 0 {
				s.log.Info("outbox purged", "rows", pr.purged, "sentBefore", now.Add(-s.cfg.Retention))
			}
			return nil
		}
	}
}

// dryRun checks what a drain would do and changes nothing.
func (s *Service) dryRun(ctx context.Context) (DrainResult, error) {
	res := DrainResult{DryRun: true}
	fresh, err := s.cfg.Catalog.Unsequenced(ctx, catalog.UnsequencedParams{Limit: s.cfg.Batch})
	if err != nil {
		return res, fmt.Errorf("outbox: %w", err)
	}
	for _, r := range fresh {
		if reason := s.check(r); reason != "" {
			res.WouldFail++
			if len(res.Failures) < maxFailures {
				res.Failures = append(res.Failures, fmt.Sprintf("outbox row %d: %s", r.ID, reason))
			}
			continue
		}
		res.WouldSend++
	}
	st, err := s.Status(ctx)
	if err != nil {
		return res, err
	}
	// Pending rows beyond the unsequenced ones read are sequenced already:
	// they are sent as they are.
	res.WouldSend += max(0, st.Pending-int64(len(fresh)))
	return res, nil
}
