// Package segments moves dbo.LayerTensorSegments.RawPayload into Blob
// Storage and proves it got there: enqueue, migrate, verify, release,
// status and orphans.
//
// Every step is idempotent and every row change is a conditional update in
// the catalog, so queue redelivery, two workers on one segment and a process
// that dies at any line all converge on the same end state. The SHA-256 a
// row records is always computed from the source stream, never from the blob.
package segments

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/catalog"
)

// Errors callers can test for. Both are permanent: retrying the same message
// cannot succeed.
var (
	// ErrBadMessage: the queue message is not {"segmentId": N} with N > 0.
	ErrBadMessage = errors.New("segments: malformed message")
	// ErrUnknownSegment: no LayerTensorSegments row has that id.
	ErrUnknownSegment = errors.New("segments: unknown segment")
)

// Defaults for Config.
const (
	DefaultBlockSize   = 4 << 20
	DefaultConcurrency = 4
	DefaultClaimTTL    = 10 * time.Minute
	DefaultPageSize    = 500
)

// Config wires a Service. Catalog, Blobs and Container are required; Broker
// and Queue are needed to enqueue.
type Config struct {
	Catalog   catalog.Catalog
	Blobs     *blobstore.Client
	Broker    *broker.Client
	Container string // TENSORS_CONTAINER
	Queue     string // SEGMENT_QUEUE

	// BlockSize is both the catalog chunk read per query and the staged
	// block size; Concurrency is blocks staged in parallel per segment.
	// Memory per migrating segment is about (Concurrency+2) × BlockSize.
	BlockSize   int64
	Concurrency int
	// ClaimTTL bounds how long a dead worker's claim blocks others; a live
	// worker renews its claim every ClaimTTL/3.
	ClaimTTL time.Duration
	PageSize int

	Logger *slog.Logger
	Now    func() time.Time

	// Hooks inject faults in tests. Nil in production.
	Hooks Hooks
}

// Hooks are called at the points where a crash is most interesting. An
// error returned by a hook behaves like a crash at that line: the step stops
// and returns it.
type Hooks struct {
	AfterStage  func(segmentID int64) error // blocks staged, nothing committed
	AfterCommit func(segmentID int64) error // blob committed, row not updated
}

// Service runs the segment jobs.
type Service struct {
	cfg Config
	log *slog.Logger

	// containerReady is set once the tensors container is known to exist, so
	// a fresh storage account works without a separate set-up step.
	containerMu    sync.Mutex
	containerReady bool
}

// ensureContainer creates the tensors container on first use (idempotent).
func (s *Service) ensureContainer(ctx context.Context) error {
	s.containerMu.Lock()
	defer s.containerMu.Unlock()
	if s.containerReady {
		return nil
	}
	if err := s.cfg.Blobs.EnsureContainer(ctx, s.cfg.Container); err != nil {
		return fmt.Errorf("segments: container %s: %w", s.cfg.Container, err)
	}
	s.containerReady = true
	return nil
}

// New applies defaults and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Catalog == nil || cfg.Blobs == nil || cfg.Container == "" {
		return nil, fmt.Errorf("segments: Catalog, Blobs and Container are required")
	}
	if cfg.BlockSize <= 0 {
		cfg.BlockSize = DefaultBlockSize
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.ClaimTTL <= 0 {
		cfg.ClaimTTL = DefaultClaimTTL
	}
	if cfg.PageSize <= 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, log: cfg.Logger}, nil
}

// BlobName is where a segment lives in the tensors container (REFERENCE §3).
func BlobName(s catalog.Segment) string {
	return fmt.Sprintf("%d/%d/%d.bin", s.ModelID, s.LayerID, s.SegmentOrdinal)
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }
