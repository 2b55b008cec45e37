package segments

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/hartonomous/offload/internal/catalog"
)

// EnqueueParams selects the segments to queue (REFERENCE §3 EnqueueSegments).
type EnqueueParams struct {
	ModelID int64 `json:"modelId,omitempty"`
	LayerID int64 `json:"layerId,omitempty"`
	Limit   int   `json:"limit,omitempty"` // 0: no cap
	DryRun  bool  `json:"dryRun,omitempty"`
}

// EnqueueResult is what Enqueue did, or with DryRun what it would do.
type EnqueueResult struct {
	DryRun       bool            `json:"dryRun"`
	Segments     int64           `json:"segments"`
	Queued       int64           `json:"queued"`
	TotalBytes   int64           `json:"totalBytes"`
	LargestBytes int64           `json:"largestBytes"`
	LargestID    int64           `json:"largestSegmentId,omitempty"`
	MonthlyCost  []TierCost      `json:"estimatedMonthlyCostUsd"`
	PriceNote    string          `json:"priceNote"`
	ByModel      map[int64]int64 `json:"segmentsByModel,omitempty"`
}

// enqueueStates are the states Enqueue sends a message for. Segments that
// are queued already are left to the verification timer, which re-queues
// them only when their message is overdue: a second message would be
// harmless (migration is idempotent) but wasted work.
var enqueueStates = []catalog.State{catalog.StatePending, catalog.StateMismatch}

// Enqueue sends {"segmentId": N} for every segment not yet migrated that the
// params select, paging by key so it never holds all ids. A message is sent
// before its row is marked queued: a crash in between leaves a pending row
// that the next run queues again (a duplicate message is a no-op), never a
// queued row without a message.
func (s *Service) Enqueue(ctx context.Context, p EnqueueParams) (EnqueueResult, error) {
	if p.ModelID < 0 || p.LayerID < 0 || p.Limit < 0 {
		return EnqueueResult{}, fmt.Errorf("segments: enqueue: modelId, layerId and limit must not be negative")
	}
	if !p.DryRun && (s.cfg.Broker == nil || s.cfg.Queue == "") {
		return EnqueueResult{}, errors.New("segments: enqueue: no queue configured")
	}
	res := EnqueueResult{DryRun: p.DryRun, ByModel: map[int64]int64{}}
	if !p.DryRun {
		if err := s.cfg.Broker.Ensure(ctx, s.cfg.Queue); err != nil {
			return res, fmt.Errorf("segments: enqueue: %w", err)
		}
	}
	f := catalog.SegmentFilter{ModelID: p.ModelID, LayerID: p.LayerID, States: enqueueStates}
	err := s.page(ctx, f, p.Limit, func(page []catalog.Segment) error {
		for _, seg := range page {
			res.Segments++
			res.TotalBytes += seg.PayloadBytes
			res.ByModel[seg.ModelID]++
			if seg.PayloadBytes > res.LargestBytes {
				res.LargestBytes, res.LargestID = seg.PayloadBytes, seg.ID
			}
		}
		if p.DryRun {
			return nil
		}
		ids, err := s.publish(ctx, page)
		if len(ids) > 0 {
			n, merr := s.cfg.Catalog.MarkQueued(ctx, catalog.MarkQueuedParams{IDs: ids, Now: s.now()})
			res.Queued += n
			if merr != nil {
				return errors.Join(err, fmt.Errorf("segments: mark queued: %w", merr))
			}
		}
		return err
	})
	res.MonthlyCost, res.PriceNote = EstimateMonthlyCost(res.TotalBytes), PriceNote
	if err == nil {
		s.log.Info("segments enqueued", "dryRun", p.DryRun, "segments", res.Segments, "queued", res.Queued, "bytes", res.TotalBytes)
	}
	return res, err
}

// publish sends one message per segment, a few at a time, and returns the
// ids whose message was accepted.
func (s *Service) publish(ctx context.Context, page []catalog.Segment) ([]int64, error) {
	var (
		mu   sync.Mutex
		ok   []int64
		errs []error
		g    errgroup.Group
	)
	g.SetLimit(8)
	for _, seg := range page {
		g.Go(func() error {
			_, err := s.cfg.Broker.Publish(ctx, s.cfg.Queue, Message{SegmentID: seg.ID}.Encode(), 0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("segments: queue %d: %w", seg.ID, err))
			} else {
				ok = append(ok, seg.ID)
			}
			return nil // every message is tried: the errors are joined
		})
	}
	g.Wait()
	return ok, errors.Join(errs...)
}

// page walks the filter by key, at most limit rows in all (0 = no cap).
func (s *Service) page(ctx context.Context, f catalog.SegmentFilter, limit int, fn func([]catalog.Segment) error) error {
	seen := 0
	for {
		f.Limit = s.cfg.PageSize
		if limit > 0 && limit-seen < f.Limit {
			f.Limit = limit - seen
		}
		if f.Limit <= 0 {
			return nil
		}
		rows, err := s.cfg.Catalog.ListSegments(ctx, f)
		if err != nil {
			return fmt.Errorf("segments: list: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		if err := fn(rows); err != nil {
			return err
		}
		seen += len(rows)
		f.AfterID = rows[len(rows)-1].ID
		if len(rows) < f.Limit {
			return nil
		}
	}
}
