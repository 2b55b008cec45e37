// Package dashboard is the live migration page: the Dashboard function
// (GET api/dashboard, and its data at GET api/dashboard/data) and `offload
// dashboard`. It reads only aggregates (catalog.Monitor and the status
// queries), never a payload, so a refresh stays cheap at 100,000 segments.
//
// The page is one self-contained HTML document (CSS and a small script
// embedded, no CDN, no font), rendered on the server from a Snapshot so it
// is sensible without JavaScript, then refreshed by polling its JSON. It
// carries no credential of its own: the script reads the function key from
// the page's own address (?code=, the Functions convention) and sends it
// back as x-functions-key; the key never appears in the page's text.
package dashboard

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
)

// Catalog is what the page reads from the catalog.
type Catalog interface {
	catalog.Monitor
	Status(ctx context.Context) ([]catalog.StatusRow, error)
	OutboxStatus(ctx context.Context) ([]catalog.OutboxCount, error)
	AtomStatus(ctx context.Context) ([]catalog.AtomStatusRow, error)
}

// Config wires a Service. Catalog is required.
type Config struct {
	Catalog Catalog
	// QueueLength reads a storage queue's approximate length (nil: the
	// poison queue's length is not shown).
	QueueLength func(ctx context.Context, queue string) (int64, error)
	// PoisonQueue is the segment queue's poison queue.
	PoisonQueue string
	// Window is the throughput chart's span (default 1h) and Bucket its
	// resolution (default 1 min).
	Window, Bucket time.Duration
	Now            func() time.Time
	Logger         *slog.Logger
}

func (c *Config) defaults() {
	if c.Window <= 0 {
		c.Window = time.Hour
	}
	if c.Bucket <= 0 {
		c.Bucket = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Service builds snapshots and serves the page.
type Service struct {
	cfg  Config
	page *page
}

// New returns a Service; the page's template and assets are parsed once.
func New(cfg Config) (*Service, error) {
	if cfg.Catalog == nil {
		return nil, fmt.Errorf("dashboard: no catalog")
	}
	cfg.defaults()
	p, err := newPage()
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, page: p}, nil
}

// Snapshot reads everything the page shows. A part that cannot be read
// fails the whole snapshot, except the poison queue's length, which is
// shown as unknown (storage may be down while the catalog answers).
func (s *Service) Snapshot(ctx context.Context) (Snapshot, error) {
	now := s.cfg.Now().UTC()
	snap := Snapshot{GeneratedAt: now}
	steps := []struct {
		name string
		fn   func(context.Context, *Snapshot) error
	}{
		{"progress", s.progress},
		{"throughput", s.throughput},
		{"verification", s.verification},
		{"failures", s.failures},
		{"outbox", s.outbox},
		{"files", s.files},
	}
	for _, st := range steps {
		if err := st.fn(ctx, &snap); err != nil {
			return Snapshot{}, fmt.Errorf("dashboard: %s: %w", st.name, err)
		}
	}
	s.etas(&snap)
	return snap, nil
}
