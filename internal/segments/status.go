package segments

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
)

// StateCount is segments and bytes in one state.
type StateCount struct {
	Segments     int64 `json:"segments"`
	PayloadBytes int64 `json:"payloadBytes"`
	BlobBytes    int64 `json:"blobBytes"`
}

// ModelStatus is one model's progress.
type ModelStatus struct {
	ModelID        int64                        `json:"modelId"`
	ModelName      string                       `json:"modelName"`
	States         map[catalog.State]StateCount `json:"states"`
	Total          StateCount                   `json:"total"`
	LastVerifiedAt *time.Time                   `json:"lastVerifiedAt,omitempty"`
	LastMigratedAt *time.Time                   `json:"lastMigratedAt,omitempty"`
}

// Status is the answer of SegmentStatus (REFERENCE §3).
type Status struct {
	Models         []ModelStatus                `json:"models"`
	Totals         map[catalog.State]StateCount `json:"totals"`
	Total          StateCount                   `json:"total"`
	LastVerifiedAt *time.Time                   `json:"lastVerifiedAt,omitempty"`
	// Lost is loud on purpose: a lost segment is missing from Blob Storage
	// after its source was released.
	Lost int64 `json:"lost"`
	// RemainingBytes are source bytes not yet migrated (pending, queued,
	// mismatch). ThroughputBytesPerSec is measured over the last hour of
	// migrations; ETASeconds = RemainingBytes / throughput (omitted when
	// nothing moved recently).
	RemainingBytes        int64     `json:"remainingBytes"`
	ThroughputBytesPerSec float64   `json:"throughputBytesPerSec"`
	ETASeconds            *float64  `json:"etaSeconds,omitempty"`
	GeneratedAt           time.Time `json:"generatedAt"`
}

// Status counts segments and bytes by state, per model.
func (s *Service) Status(ctx context.Context) (Status, error) {
	rows, err := s.cfg.Catalog.Status(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("segments: status: %w", err)
	}
	st := Status{Totals: map[catalog.State]StateCount{}, GeneratedAt: s.now()}
	byModel := map[int64]*ModelStatus{}
	for _, r := range rows {
		m := byModel[r.ModelID]
		if m == nil {
			m = &ModelStatus{ModelID: r.ModelID, ModelName: r.ModelName, States: map[catalog.State]StateCount{}}
			byModel[r.ModelID] = m
		}
		c := StateCount{Segments: r.Segments, PayloadBytes: r.PayloadBytes, BlobBytes: r.BlobBytes}
		m.States[r.State] = add(m.States[r.State], c)
		m.Total = add(m.Total, c)
		st.Totals[r.State] = add(st.Totals[r.State], c)
		st.Total = add(st.Total, c)
		m.LastVerifiedAt = later(m.LastVerifiedAt, r.LastVerifiedAt)
		m.LastMigratedAt = later(m.LastMigratedAt, r.LastMigratedAt)
		st.LastVerifiedAt = later(st.LastVerifiedAt, r.LastVerifiedAt)
		switch r.State {
		case catalog.StatePending, catalog.StateQueued, catalog.StateMismatch:
			st.RemainingBytes += r.PayloadBytes
		case catalog.StateLost:
			st.Lost += r.Segments
		}
	}
	for _, m := range byModel {
		st.Models = append(st.Models, *m)
	}
	sort.Slice(st.Models, func(i, j int) bool { return st.Models[i].ModelID < st.Models[j].ModelID })

	tp, err := s.cfg.Catalog.MigratedSince(ctx, catalog.MigratedSinceParams{Since: st.GeneratedAt.Add(-time.Hour)})
	if err != nil {
		return st, fmt.Errorf("segments: status: %w", err)
	}
	if tp.Bytes > 0 {
		window := st.GeneratedAt.Sub(tp.First).Seconds()
		if window < 1 {
			window = 1
		}
		st.ThroughputBytesPerSec = float64(tp.Bytes) / window
		eta := float64(st.RemainingBytes) / st.ThroughputBytesPerSec
		st.ETASeconds = &eta
	}
	if st.Lost > 0 {
		s.log.Error("segments are LOST: blob missing or wrong after the source was released", "lost", st.Lost)
	}
	return st, nil
}

func add(a, b StateCount) StateCount {
	return StateCount{a.Segments + b.Segments, a.PayloadBytes + b.PayloadBytes, a.BlobBytes + b.BlobBytes}
}

func later(cur *time.Time, t time.Time) *time.Time {
	if t.IsZero() {
		return cur
	}
	if cur == nil || t.After(*cur) {
		t := t
		return &t
	}
	return cur
}
