package dashboard

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
)

// barWidth and the chart box are the page's drawing units (SVG viewBox).
const (
	barWidth     = 1000
	chartWidth   = 600
	chartHeight  = 120
	latestListed = 20
)

// progress fills Overall, Models and Release from the status rows.
func (s *Service) progress(ctx context.Context, snap *Snapshot) error {
	rows, err := s.cfg.Catalog.Status(ctx)
	if err != nil {
		return err
	}
	byModel := map[int64]*Model{}
	overall := map[catalog.State]StateCount{}
	for _, r := range rows {
		m := byModel[r.ModelID]
		if m == nil {
			m = &Model{ModelID: r.ModelID, ModelName: r.ModelName}
			byModel[r.ModelID] = m
		}
		c := StateCount{State: r.State, Segments: r.Segments, Bytes: stateBytes(r)}
		m.States = append(m.States, c)
		o := overall[r.State]
		o.State, o.Segments, o.Bytes = r.State, o.Segments+c.Segments, o.Bytes+c.Bytes
		overall[r.State] = o
	}
	for _, m := range byModel {
		m.Progress = newProgress(indexStates(m.States))
		snap.Models = append(snap.Models, *m)
	}
	sort.Slice(snap.Models, func(i, j int) bool { return snap.Models[i].ModelID < snap.Models[j].ModelID })
	snap.Overall = newProgress(overall)
	snap.Release = release(overall)
	return nil
}

// stateBytes are a status row's bytes where they are: the source's until
// the blob exists, the blob's afterwards (a released source is empty).
func stateBytes(r catalog.StatusRow) int64 {
	switch r.State {
	case catalog.StatePending, catalog.StateQueued, catalog.StateMismatch:
		return r.PayloadBytes
	}
	return r.BlobBytes
}

func indexStates(cs []StateCount) map[catalog.State]StateCount {
	m := map[catalog.State]StateCount{}
	for _, c := range cs {
		m[c.State] = c
	}
	return m
}

// newProgress lists every state in order and draws the bar by bytes (by
// segments when no state has bytes).
func newProgress(by map[catalog.State]StateCount) Progress {
	var p Progress
	for _, st := range catalog.AllStates {
		c := by[st]
		c.State = st
		p.States = append(p.States, c)
		p.Segments += c.Segments
		p.Bytes += c.Bytes
		switch st {
		case catalog.StateVerified, catalog.StateReleased:
			p.DoneBytes += c.Bytes
		case catalog.StatePending, catalog.StateQueued, catalog.StateMismatch:
			p.RemainingBytes += c.Bytes
		}
	}
	measure := func(c StateCount) int64 { return c.Bytes }
	total := p.Bytes
	if total == 0 {
		measure, total = func(c StateCount) int64 { return c.Segments }, p.Segments
	}
	x := 0
	var sum int64
	for _, c := range p.States { // every state, in order: the page draws one rect each
		end := x
		if total > 0 {
			sum += measure(c)
			end = int(sum * barWidth / total)
		}
		p.Bar = append(p.Bar, BarPart{State: c.State, X: x, Width: end - x})
		x = end
	}
	return p
}

func release(by map[catalog.State]StateCount) Release {
	r := Release{SafeSegments: by[catalog.StateVerified].Segments, SafeBytes: by[catalog.StateVerified].Bytes,
		Released: by[catalog.StateReleased].Segments}
	for _, st := range catalog.AllStates {
		if c := by[st]; st != catalog.StateReleased && c.Segments > 0 {
			c.State = st
			r.FinalizeBlockers = append(r.FinalizeBlockers, c)
		}
	}
	r.FinalizeReady = len(r.FinalizeBlockers) == 0 && r.Released > 0
	return r
}

// throughput reads the last Window of migrations in Bucket-wide buckets
// (every bucket listed, empty ones too, so the chart's x axis is time).
func (s *Service) throughput(ctx context.Context, snap *Snapshot) error {
	width := s.cfg.Bucket.Truncate(time.Second)
	n := int(s.cfg.Window / width)
	since := snap.GeneratedAt.Truncate(width).Add(-time.Duration(n-1) * width)
	got, err := s.cfg.Catalog.MigrationHistory(ctx, catalog.MigrationHistoryParams{Since: since, Bucket: width})
	if err != nil {
		return err
	}
	tp := Throughput{WindowSeconds: int64(s.cfg.Window / time.Second), BucketSeconds: int64(width / time.Second)}
	at := map[int64]catalog.HistoryBucket{}
	for _, b := range got {
		at[b.Start.Unix()] = b
	}
	var bytes, segs int64
	for i := range n {
		start := since.Add(time.Duration(i) * width)
		b := at[start.Unix()]
		secs := width.Seconds()
		if i == n-1 { // the current bucket has only run this long
			secs = max(1, snap.GeneratedAt.Sub(start).Seconds())
		}
		tp.Buckets = append(tp.Buckets, Bucket{Start: start, Segments: b.Segments, Bytes: b.Bytes,
			BytesPerSec: float64(b.Bytes) / secs, SegmentsPerSec: float64(b.Segments) / secs})
		tp.PeakBytesPerSec = max(tp.PeakBytesPerSec, float64(b.Bytes)/secs)
		bytes, segs = bytes+b.Bytes, segs+b.Segments
	}
	span := snap.GeneratedAt.Sub(since).Seconds()
	tp.BytesPerSec, tp.SegmentsPerSec = float64(bytes)/span, float64(segs)/span
	tp.Points = chartPoints(tp.Buckets, tp.PeakBytesPerSec)
	snap.Throughput = tp
	return nil
}

// chartPoints is the polyline of the buckets' MB/s, scaled to the peak.
func chartPoints(bs []Bucket, peak float64) string {
	if len(bs) == 0 {
		return ""
	}
	var sb strings.Builder
	for i, b := range bs {
		x := 0
		if len(bs) > 1 {
			x = i * chartWidth / (len(bs) - 1)
		}
		y := chartHeight
		if peak > 0 {
			y = chartHeight - int(b.BytesPerSec/peak*float64(chartHeight-4))
		}
		fmt.Fprintf(&sb, "%d,%d ", x, y)
	}
	return strings.TrimSpace(sb.String())
}

// etas: overall and per model, at the last window's overall rate (the
// models share one pool of workers).
func (s *Service) etas(snap *Snapshot) {
	rate := snap.Throughput.BytesPerSec
	eta := func(p *Progress) {
		if rate > 0 && p.RemainingBytes > 0 {
			v := float64(p.RemainingBytes) / rate
			p.ETASeconds = &v
		}
	}
	eta(&snap.Overall)
	for i := range snap.Models {
		eta(&snap.Models[i].Progress)
	}
}

// verification reads the coverage and the runs.
func (s *Service) verification(ctx context.Context, snap *Snapshot) error {
	c, err := s.cfg.Catalog.VerifyCoverage(ctx, catalog.VerifyCoverageParams{})
	if err != nil {
		return err
	}
	v := Verification{ReadBack: c.ReadBack, ReadBackBytes: c.ReadBackBytes, Unverified: c.Unverified,
		UnverifiedBytes: c.UnverifiedBytes, Cheap: c.Cheap, Mismatch: c.Mismatch, Lost: c.Lost}
	if all := c.ReadBack + c.Unverified + c.Mismatch + c.Lost; all > 0 {
		v.CoveragePercent = float64(c.ReadBack) * 100 / float64(all)
	}
	full, err := s.cfg.Catalog.VerifyRuns(ctx, catalog.VerifyRunsParams{Limit: 1, CompleteOnly: true})
	if err != nil {
		return err
	}
	if len(full) == 1 {
		t := full[0].EndedAt
		v.LastFullPassEndedAt = &t
	}
	runs, err := s.cfg.Catalog.VerifyRuns(ctx, catalog.VerifyRunsParams{Limit: 24 * 60, EndedAfter: snap.GeneratedAt.Add(-24 * time.Hour)})
	if err != nil {
		return err
	}
	for i, r := range runs {
		t := totals(r)
		if i == 0 {
			v.LastRun = &Run{StartedAt: r.StartedAt, EndedAt: r.EndedAt, LeftUnverified: r.LeftUnverified, RunTotals: t}
		}
		v.Day.add(t)
	}
	snap.Verification = v
	return nil
}

func totals(r catalog.VerifyRun) RunTotals {
	return RunTotals{Runs: 1, FullChecked: r.FullChecked, CheapChecked: r.CheapChecked, BytesHashed: r.BytesHashed,
		Mismatched: r.Mismatched, Lost: r.Lost, Requeued: r.Requeued, AtomsChecked: r.AtomsChecked,
		AtomsFailed: r.AtomsFailed, Errors: r.Errors}
}

func (t *RunTotals) add(o RunTotals) {
	t.Runs += o.Runs
	t.FullChecked += o.FullChecked
	t.CheapChecked += o.CheapChecked
	t.BytesHashed += o.BytesHashed
	t.Mismatched += o.Mismatched
	t.Lost += o.Lost
	t.Requeued += o.Requeued
	t.AtomsChecked += o.AtomsChecked
	t.AtomsFailed += o.AtomsFailed
	t.Errors += o.Errors
}

// failures reads the failed segments and the poison queue's length.
func (s *Service) failures(ctx context.Context, snap *Snapshot) error {
	rep, err := s.cfg.Catalog.SegmentFailures(ctx, catalog.SegmentFailuresParams{Latest: latestListed})
	if err != nil {
		return err
	}
	f := Failures{Total: rep.Total, Reasons: reasons(rep.Reasons), PoisonQueue: s.cfg.PoisonQueue}
	for _, l := range rep.Latest {
		sf := SegmentFailure{SegmentID: l.ID, ModelID: l.ModelID, State: l.State, Attempts: l.Attempts, Reason: l.Reason}
		if !l.At.IsZero() {
			t := l.At
			sf.At = &t
		}
		f.Latest = append(f.Latest, sf)
	}
	if s.cfg.QueueLength != nil && s.cfg.PoisonQueue != "" {
		n, err := s.cfg.QueueLength(ctx, s.cfg.PoisonQueue)
		if err != nil {
			s.cfg.Logger.WarnContext(ctx, "dashboard: poison queue length unknown", "queue", s.cfg.PoisonQueue, "err", err)
		} else {
			f.PoisonMessages = &n
		}
	}
	snap.Failures = f
	return nil
}

func reasons(rs []catalog.ReasonCount) []Reason {
	out := make([]Reason, 0, len(rs))
	for _, r := range rs {
		out = append(out, Reason{Reason: r.Reason, Count: r.Count})
	}
	return out
}

// outbox reads the outbox's counts and its failures' reasons.
func (s *Service) outbox(ctx context.Context, snap *Snapshot) error {
	rows, err := s.cfg.Catalog.OutboxStatus(ctx)
	if err != nil {
		return err
	}
	var o Outbox
	var oldest time.Time
	for _, r := range rows {
		switch r.State {
		case catalog.OutboxPending:
			o.Pending += r.Rows
			if !r.Oldest.IsZero() && (oldest.IsZero() || r.Oldest.Before(oldest)) {
				oldest = r.Oldest
			}
		case catalog.OutboxSent:
			o.Sent += r.Rows
		case catalog.OutboxFailed:
			o.Failed += r.Rows
		}
	}
	if !oldest.IsZero() {
		o.OldestPendingAgeSeconds = max(0, snap.GeneratedAt.Sub(oldest).Seconds())
	}
	fr, err := s.cfg.Catalog.OutboxFailures(ctx, catalog.OutboxFailuresParams{})
	if err != nil {
		return err
	}
	o.FailedReasons = reasons(fr)
	snap.Outbox = o
	return nil
}

// files reads the atom files by modality and the latest that failed.
func (s *Service) files(ctx context.Context, snap *Snapshot) error {
	rows, err := s.cfg.Catalog.AtomStatus(ctx)
	if err != nil {
		return err
	}
	f := Files{Modalities: []Modality{}, Failures: []FileFailure{}}
	for _, r := range rows {
		f.Modalities = append(f.Modalities, Modality{Modality: r.Modality, Atoms: r.Atoms, Linked: r.Linked,
			Verified: r.Verified, Failed: r.Failed, Bytes: r.Bytes})
	}
	failed, err := s.cfg.Catalog.AtomFailures(ctx, catalog.AtomFailuresParams{Limit: latestListed})
	if err != nil {
		return err
	}
	for _, a := range failed {
		f.Failures = append(f.Failures, FileFailure{AtomID: a.ID, Modality: a.Modality, Locator: a.PayloadLocator, Reason: a.Result})
	}
	snap.Files = f
	return nil
}
