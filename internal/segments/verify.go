package segments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
)

// VerifyParams bound one verification run (the VerifySegments timer, or
// `offload segments verify`). Zero values take the defaults.
type VerifyParams struct {
	// Budget stops the run starting new work after this long; it stays well
	// under host.json's functionTimeout (10 min). Default 4 min.
	Budget time.Duration
	// Batch is the most rows of each kind looked at in one run. Default 200.
	Batch int
	// Workers verify in parallel. Default 4.
	Workers int
	// CheapEvery is how often a verified segment gets its cheap check
	// (exists, size, ETag). Default 24h.
	CheapEvery time.Duration
	// Sample is how many of the cheap-checked rows are fully re-hashed.
	// Default 2.
	Sample int
	// RequeueAfter re-sends messages for unmigrated segments whose last
	// message is older than this. Default 30 min.
	RequeueAfter time.Duration
	// AtomLimit is handed to VerifyAtoms. Default Batch.
	AtomLimit int
	// DryRun checks and reports but records and re-queues nothing.
	DryRun bool
	// IsPastDue is logged: the timer fired late (host was down or busy).
	IsPastDue bool
}

func (p *VerifyParams) defaults() {
	if p.Budget <= 0 {
		p.Budget = 4 * time.Minute
	}
	if p.Batch <= 0 {
		p.Batch = 200
	}
	if p.Workers <= 0 {
		p.Workers = 4
	}
	if p.CheapEvery <= 0 {
		p.CheapEvery = 24 * time.Hour
	}
	if p.Sample < 0 {
		p.Sample = 0
	} else if p.Sample == 0 {
		p.Sample = 2
	}
	if p.RequeueAfter <= 0 {
		p.RequeueAfter = 30 * time.Minute
	}
	if p.AtomLimit <= 0 {
		p.AtomLimit = p.Batch
	}
}

// VerifyReport counts what a run did.
type VerifyReport struct {
	FullChecked  int64    `json:"fullChecked"`
	CheapChecked int64    `json:"cheapChecked"`
	Verified     int64    `json:"verified"`
	Mismatched   int64    `json:"mismatched"`
	Lost         int64    `json:"lost"`
	Requeued     int64    `json:"requeued"`
	BytesHashed  int64    `json:"bytesHashed"`
	AtomsChecked int64    `json:"atomsChecked"`
	AtomsFailed  int64    `json:"atomsFailed"`
	OutOfBudget  bool     `json:"outOfBudget"`
	Seconds      float64  `json:"seconds"`
	Errors       []string `json:"errors,omitempty"`
}

// AtomVerifier checks linked atoms of every modality (the atoms package);
// injected so this package does not depend on it.
type AtomVerifier func(ctx context.Context, limit int) (checked, failed int64, err error)

// check is one verification verdict.
type check struct {
	ok      bool
	result  string // "ok", "ok-cheap", "missing", "size", "sha256", "source-changed"
	newETag string
	bytes   int64
}

// Verify runs one bounded verification pass:
//  1. segments migrated but never verified: the blob is read back and its
//     SHA-256 and size compared with what the row recorded from the source,
//     then the source (when still present) is re-hashed and compared too;
//  2. verified or released segments not checked for CheapEvery: exists, size,
//     ETag; a random few of them are fully re-hashed;
//  3. model atoms, through atoms (may be nil);
//  4. segments never migrated whose message is overdue are queued again.
//
// A blob that is missing or wrong is reset and re-queued while the source is
// present; once the source is released it is marked lost and logged at error
// level. Verify never modifies or deletes a source payload.
func (s *Service) Verify(ctx context.Context, p VerifyParams, atoms AtomVerifier) (VerifyReport, error) {
	p.defaults()
	start := s.cfg.Now()
	v := &verifyRun{s: s, ctx: ctx, p: p, deadline: start.Add(p.Budget)}
	if p.IsPastDue {
		s.log.Warn("verification timer is past due; running now")
	}
	// Re-queueing needs the queue; it may not exist yet on a fresh account.
	if s.cfg.Broker != nil && !p.DryRun {
		if err := s.cfg.Broker.Ensure(ctx, s.cfg.Queue); err != nil {
			return v.rep, fmt.Errorf("segments: verify: %w", err)
		}
	}
	if err := v.fresh(); err != nil {
		return v.rep, err
	}
	if !v.overBudget() {
		if err := v.rotation(); err != nil {
			return v.rep, err
		}
	}
	// 3. Model atoms.
	if atoms != nil && !v.overBudget() && !p.DryRun {
		n, bad, err := atoms(ctx, p.AtomLimit)
		v.rep.AtomsChecked, v.rep.AtomsFailed = n, bad
		if err != nil {
			v.fail(fmt.Errorf("segments: verify model atoms: %w", err))
		}
	}
	// 4. Converge: queue unmigrated segments whose message is overdue
	//    (poisoned, lost, or never sent).
	if !v.overBudget() && s.cfg.Broker != nil && !p.DryRun {
		n, err := s.requeueOverdue(ctx, p)
		v.rep.Requeued += n
		if err != nil {
			v.fail(err)
		}
	}
	rep := v.rep
	rep.Seconds = s.cfg.Now().Sub(start).Seconds()
	s.log.Info("verification run", "fullChecked", rep.FullChecked, "cheapChecked", rep.CheapChecked,
		"verified", rep.Verified, "mismatched", rep.Mismatched, "lost", rep.Lost, "requeued", rep.Requeued,
		"atomsChecked", rep.AtomsChecked, "outOfBudget", rep.OutOfBudget, "seconds", rep.Seconds)
	if !p.DryRun {
		s.recordRun(ctx, start, rep)
	}
	if len(rep.Errors) > 0 {
		return rep, fmt.Errorf("segments: verify: %d errors, first: %s", len(rep.Errors), rep.Errors[0])
	}
	return rep, nil
}

// verifyRunsKept is how long the catalog keeps the record of a
// verification run (what the live page reads).
const verifyRunsKept = 30 * 24 * time.Hour

// recordRun keeps the run's outcome for the live page. It is bookkeeping
// about verification, not verification: a failure is logged, never the
// run's failure.
func (s *Service) recordRun(ctx context.Context, start time.Time, rep VerifyReport) {
	end := s.cfg.Now()
	err := s.cfg.Catalog.RecordVerifyRun(ctx, catalog.RecordVerifyRunParams{StartedAt: start, EndedAt: end,
		FullChecked: rep.FullChecked, CheapChecked: rep.CheapChecked, Verified: rep.Verified, Mismatched: rep.Mismatched,
		Lost: rep.Lost, Requeued: rep.Requeued, BytesHashed: rep.BytesHashed, AtomsChecked: rep.AtomsChecked,
		AtomsFailed: rep.AtomsFailed, Errors: int64(len(rep.Errors)), KeepAfter: end.Add(-verifyRunsKept)})
	if err != nil {
		s.log.Warn("verification run not recorded", "err", err)
	}
}

// verifyRun is the state of one Verify: its report, which its workers
// add to under mu.
type verifyRun struct {
	s        *Service
	ctx      context.Context
	p        VerifyParams
	deadline time.Time

	mu  sync.Mutex
	rep VerifyReport
}

func (v *verifyRun) fail(err error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.rep.Errors = append(v.rep.Errors, err.Error())
	v.s.log.Error("verification error", "err", err)
}

// overBudget reports whether no check may start: the budget is spent (which
// the report records) or ctx has ended.
func (v *verifyRun) overBudget() bool {
	if v.s.cfg.Now().After(v.deadline) {
		v.rep.OutOfBudget = true
		return true
	}
	return v.ctx.Err() != nil
}

// checked counts a check done and settles its segment.
func (v *verifyRun) checked(seg catalog.Segment, full bool, c check, err error) {
	v.mu.Lock()
	if full {
		v.rep.FullChecked++
		v.rep.BytesHashed += c.bytes
	} else {
		v.rep.CheapChecked++
	}
	v.mu.Unlock()
	if err != nil {
		v.fail(err)
		return
	}
	v.s.settle(v.ctx, seg, c, v.p, &v.rep, &v.mu, v.fail)
}

// fresh is step 1: the first verification of freshly migrated segments, a
// full read-back.
func (v *verifyRun) fresh() error {
	s := v.s
	fresh, err := s.cfg.Catalog.ListSegments(v.ctx, catalog.SegmentFilter{States: []catalog.State{catalog.StateMigrated}, Limit: v.p.Batch})
	if err != nil {
		return fmt.Errorf("segments: verify: %w", err)
	}
	s.parallel(v.ctx, v.p.Workers, fresh, v.overBudget, func(seg catalog.Segment) {
		c, err := s.fullCheck(v.ctx, seg, true)
		v.checked(seg, true, c, err)
	})
	return nil
}

// rotation is step 2: cheap checks on a rotating window of verified and
// released segments, and a full re-hash of a random sample of them.
func (v *verifyRun) rotation() error {
	s, p := v.s, v.p
	old, err := s.cfg.Catalog.ListSegments(v.ctx, catalog.SegmentFilter{
		States: []catalog.State{catalog.StateVerified, catalog.StateReleased}, Limit: p.Batch,
		VerifiedBefore: s.now().Add(-p.CheapEvery),
	})
	if err != nil {
		return fmt.Errorf("segments: verify: %w", err)
	}
	sample := map[int64]bool{}
	for _, i := range rand.Perm(len(old)) {
		if len(sample) >= p.Sample {
			break
		}
		sample[old[i].ID] = true
	}
	s.parallel(v.ctx, p.Workers, old, v.overBudget, func(seg catalog.Segment) {
		if sample[seg.ID] {
			c, err := s.fullCheck(v.ctx, seg, false)
			v.checked(seg, true, c, err)
			return
		}
		c, err := s.cheapCheck(v.ctx, seg)
		v.checked(seg, false, c, err)
	})
	return nil
}

// parallel runs fn over rows with n workers, starting nothing once stop()
// or once ctx ends (fn sees ctx end for the rows already started).
func (s *Service) parallel(ctx context.Context, n int, rows []catalog.Segment, stop func() bool, fn func(catalog.Segment)) {
	var g errgroup.Group
	g.SetLimit(n)
	for _, seg := range rows {
		if stop() || ctx.Err() != nil {
			break
		}
		g.Go(func() error { fn(seg); return nil })
	}
	g.Wait()
}

// fullCheck reads the whole blob back and compares SHA-256 and size with the
// row; with withSource it also re-hashes the source payload when present.
func (s *Service) fullCheck(ctx context.Context, seg catalog.Segment, withSource bool) (check, error) {
	name := BlobName(seg)
	body, props, err := s.cfg.Blobs.Download(ctx, s.cfg.Container, name, 0, 0)
	if errors.Is(err, blobstore.ErrNotFound) {
		return check{result: "missing"}, nil
	}
	if err != nil {
		return check{}, fmt.Errorf("segments: verify %d: download %s: %w", seg.ID, name, err)
	}
	sum, n, err := hashReader(body, int(s.cfg.BlockSize))
	body.Close()
	if err != nil {
		return check{bytes: n}, fmt.Errorf("segments: verify %d: read %s: %w", seg.ID, name, err)
	}
	c := check{bytes: n}
	switch {
	case n != seg.BlobSizeBytes:
		c.result = "size"
		return c, nil
	case sum != seg.Sha256:
		c.result = "sha256"
		return c, nil
	}
	if props.ETag != seg.BlobETag {
		// Same bytes under a new ETag (metadata rewritten): still proven.
		c.newETag = props.ETag
	}
	if withSource && seg.State != catalog.StateReleased && seg.PayloadBytes > 0 {
		pr, err := s.cfg.Catalog.OpenPayload(ctx, catalog.OpenPayloadParams{ID: seg.ID, Chunk: int(s.cfg.BlockSize)})
		if err != nil {
			return c, fmt.Errorf("segments: verify %d: open source: %w", seg.ID, err)
		}
		src, m, err := hashReader(pr, int(s.cfg.BlockSize))
		pr.Close()
		c.bytes += m
		if err != nil {
			return c, fmt.Errorf("segments: verify %d: read source: %w", seg.ID, err)
		}
		if src != seg.Sha256 || m != seg.BlobSizeBytes {
			c.result = "source-changed"
			return c, nil
		}
	}
	c.ok, c.result = true, "ok"
	return c, nil
}

// cheapCheck compares the blob's properties with the row: exists, size,
// ETag. A changed ETag escalates to a full re-hash.
func (s *Service) cheapCheck(ctx context.Context, seg catalog.Segment) (check, error) {
	props, err := s.cfg.Blobs.Properties(ctx, s.cfg.Container, BlobName(seg))
	if errors.Is(err, blobstore.ErrNotFound) {
		return check{result: "missing"}, nil
	}
	if err != nil {
		return check{}, fmt.Errorf("segments: verify %d: properties: %w", seg.ID, err)
	}
	if props.Size != seg.BlobSizeBytes {
		return check{result: "size"}, nil
	}
	if props.ETag != seg.BlobETag {
		return s.fullCheck(ctx, seg, false)
	}
	return check{ok: true, result: "ok-cheap"}, nil
}

// settle records a verdict: verified, or reset and re-queued while the source
// is present, or lost once it is not.
func (s *Service) settle(ctx context.Context, seg catalog.Segment, c check, p VerifyParams, rep *VerifyReport, mu *sync.Mutex, fail func(error)) {
	now := s.now()
	if p.DryRun {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case c.ok:
			rep.Verified++
		case seg.State == catalog.StateReleased || !seg.ReleasedAt.IsZero():
			rep.Lost++
		default:
			rep.Mismatched++
		}
		return
	}
	if c.ok {
		state := catalog.StateVerified
		if seg.State == catalog.StateReleased {
			state = catalog.StateReleased
		}
		err := s.cfg.Catalog.RecordVerified(ctx, catalog.RecordVerifiedParams{ID: seg.ID, ExpectSha256: seg.Sha256,
			ExpectETag: seg.BlobETag, State: state, Result: c.result, NewETag: c.newETag, Now: now})
		if err != nil && !errors.Is(err, catalog.ErrConflict) {
			fail(fmt.Errorf("segments: record verified %d: %w", seg.ID, err))
			return
		}
		if err == nil {
			mu.Lock()
			rep.Verified++
			mu.Unlock()
		}
		return
	}
	// Only release empties a payload, and release is recorded on the row.
	sourcePresent := seg.State != catalog.StateReleased && seg.ReleasedAt.IsZero()
	if !sourcePresent {
		s.log.Error("segment blob is missing or wrong and its source was released: data lost unless restored from backup",
			"segmentId", seg.ID, "blob", BlobName(seg), "result", c.result, "sha256", seg.Sha256)
		err := s.cfg.Catalog.RecordVerified(ctx, catalog.RecordVerifiedParams{ID: seg.ID, ExpectSha256: seg.Sha256,
			ExpectETag: seg.BlobETag, State: catalog.StateLost, Result: c.result, Now: now})
		if err != nil && !errors.Is(err, catalog.ErrConflict) {
			fail(fmt.Errorf("segments: record lost %d: %w", seg.ID, err))
		}
		mu.Lock()
		rep.Lost++
		mu.Unlock()
		return
	}
	s.log.Warn("segment blob is missing or wrong; re-queued", "segmentId", seg.ID, "blob", BlobName(seg), "result", c.result)
	if err := s.cfg.Catalog.ResetBlob(ctx, catalog.ResetBlobParams{ID: seg.ID, ExpectETag: seg.BlobETag, Reason: "verify: " + c.result, Now: now}); err != nil {
		if !errors.Is(err, catalog.ErrConflict) {
			fail(fmt.Errorf("segments: reset %d: %w", seg.ID, err))
		}
		return
	}
	mu.Lock()
	rep.Mismatched++
	mu.Unlock()
	if s.cfg.Broker != nil {
		ids, err := s.publish(ctx, []catalog.Segment{seg})
		if err == nil {
			_, err = s.cfg.Catalog.MarkQueued(ctx, catalog.MarkQueuedParams{IDs: ids, Now: now})
		}
		if err != nil {
			fail(fmt.Errorf("segments: re-queue %d: %w (the next run queues it)", seg.ID, err))
			return
		}
		mu.Lock()
		rep.Requeued++
		mu.Unlock()
	}
}

// requeueOverdue queues unmigrated segments whose last message is older
// than RequeueAfter (or that were never queued).
func (s *Service) requeueOverdue(ctx context.Context, p VerifyParams) (int64, error) {
	var n int64
	f := catalog.SegmentFilter{
		States:       []catalog.State{catalog.StatePending, catalog.StateQueued, catalog.StateMismatch},
		QueuedBefore: s.now().Add(-p.RequeueAfter),
	}
	err := s.page(ctx, f, p.Batch, func(page []catalog.Segment) error {
		ids, err := s.publish(ctx, page)
		if len(ids) > 0 {
			m, merr := s.cfg.Catalog.MarkQueued(ctx, catalog.MarkQueuedParams{IDs: ids, Now: s.now()})
			n += m
			err = errors.Join(err, merr)
		}
		return err
	})
	return n, err
}

// hashReader returns the hex SHA-256 of r and its length.
func hashReader(r io.Reader, bufSize int) (string, int64, error) {
	h := sha256.New()
	n, err := io.CopyBuffer(h, r, make([]byte, bufSize))
	return hex.EncodeToString(h.Sum(nil)), n, err
}
