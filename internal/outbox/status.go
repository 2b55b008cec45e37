package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
)

// Counts are rows by state.
type Counts struct {
	Pending int64 `json:"pending"`
	Sent    int64 `json:"sent"`
	Failed  int64 `json:"failed"`
}

func (c *Counts) add(state catalog.OutboxState, n int64) {
	switch state {
	case catalog.OutboxPending:
		c.Pending += n
	case catalog.OutboxSent:
		c.Sent += n
	case catalog.OutboxFailed:
		c.Failed += n
	}
}

// Status is the outbox at a glance: `offload messages status` and the
// "outbox" object of GET api/segments/status. Sent counts the rows still
// kept (OUTBOX_RETENTION).
type Status struct {
	Counts
	// OldestPendingAt is the publish time of the oldest pending row;
	// OldestPendingAgeSeconds how long it has waited (0 when none).
	OldestPendingAt         *time.Time        `json:"oldestPendingAt,omitempty"`
	OldestPendingAgeSeconds float64           `json:"oldestPendingAgeSeconds"`
	Queues                  map[string]Counts `json:"queues"`
	GeneratedAt             time.Time         `json:"generatedAt"`
}

// Status counts the outbox's rows.
func (s *Service) Status(ctx context.Context) (Status, error) {
	return StatusOf(ctx, s.cfg.Catalog, s.now())
}

// StatusOf is Status for a catalog without a Service (no queue storage
// needed).
func StatusOf(ctx context.Context, cat catalog.Outbox, now time.Time) (Status, error) {
	rows, err := cat.OutboxStatus(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("outbox: status: %w", err)
	}
	st := Status{Queues: map[string]Counts{}, GeneratedAt: now}
	for _, r := range rows {
		st.add(r.State, r.Rows)
		q := st.Queues[r.Queue]
		q.add(r.State, r.Rows)
		st.Queues[r.Queue] = q
		if r.State == catalog.OutboxPending && !r.Oldest.IsZero() && (st.OldestPendingAt == nil || r.Oldest.Before(*st.OldestPendingAt)) {
			t := r.Oldest
			st.OldestPendingAt = &t
		}
	}
	if st.OldestPendingAt != nil {
		st.OldestPendingAgeSeconds = max(0, now.Sub(*st.OldestPendingAt).Seconds())
	}
	return st, nil
}
