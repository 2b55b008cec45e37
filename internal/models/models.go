// Package models offloads Hartonomous model files (dbo.Atoms rows with
// Modality = 'model') to Blob Storage and links the rows to their blobs.
//
// A model file is stored locally under a name that is the SHA-256 of its
// content (sha256-<64 lowercase hex>, Ollama's blob layout), and the atom's
// ContentHash is that same digest. The name is therefore the proof: a blob is
// named exactly like the file, and it only counts as the file once its
// content has been shown to hash to the name:
//
//   - Upload hashes the stream while it stages it and commits only when the
//     digest equals the name; it records the digest in the blob's metadata
//     (Sha256, SizeBytes) so later steps need not read the blob again.
//   - Link fills an atom's Blob* columns only for a blob so proven (by our
//     metadata, or with Rehash by a full read of the blob).
//   - Verify re-checks linked atoms: cheaply (exists, size, ETag) or, with
//     Rehash, by a full read compared with ContentHash.
//
// PayloadLocator is never changed: it stays until a human drops it.
package models

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
)

// Defaults for Config.
const (
	DefaultContainer   = "models"
	DefaultBlockSize   = 8 << 20
	DefaultConcurrency = 8
	// DefaultVerifyEvery is Verify's OlderThan when a Limit bounds the pass
	// (the VerifySegments timer): bounded passes then rotate through all
	// linked atoms instead of re-checking the first Limit ones every time.
	DefaultVerifyEvery = 24 * time.Hour
)

// Metadata keys written on every uploaded model blob.
const (
	MetaSha256    = "Sha256"    // lowercase hex SHA-256 of the content
	MetaSizeBytes = "SizeBytes" // decimal size in bytes
)

// Outcomes of Upload (FileResult.Outcome).
const (
	OutcomeUploaded    = "uploaded"
	OutcomeSkipped     = "skipped"
	OutcomeResumed     = "resumed"
	OutcomeFailed      = "failed"
	OutcomeWouldUpload = "would-upload"
)

// Outcomes of Link (LinkResult.Outcome).
const (
	OutcomeLinked    = "linked"
	OutcomeAlready   = "already"
	OutcomeUnproven  = "unproven"
	OutcomeMissing   = "missing"
	OutcomeWouldLink = "would-link"
	// OutcomeFailed is shared with Upload.
)

// Results of Verify (VerifyResult.Result). All but ResultError are recorded
// on the atom (VerifyResult column); ResultError is an operational failure
// (network, catalog) that says nothing about the blob and is not recorded.
const (
	ResultOK      = "ok"
	ResultMissing = "missing"
	ResultSize    = "size"
	ResultETag    = "etag"
	ResultSha256  = "sha256"
	ResultError   = "error"
)

// Config wires a Service. Zero values take the defaults.
type Config struct {
	Blobs   *blobstore.Client
	Catalog catalog.Catalog
	// Container receives the model blobs (MODELS_CONTAINER).
	Container string
	// BlockSize is the staged block size (DefaultBlockSize); it grows for a
	// file too large for MaxBlocks blocks of this size.
	BlockSize int64
	// Concurrency is the number of blocks staged in parallel
	// (DefaultConcurrency). Memory per upload is (Concurrency+1) × BlockSize.
	Concurrency int
	Logger      *slog.Logger
	// Progress, when set, is called during Upload: once when the totals are
	// known, at most a few times a second while bytes flow, and once at the
	// end. It runs on the uploading goroutine: it must be quick and must not
	// call back into the Service.
	Progress func(Progress)
	// Now is the clock (time.Now).
	Now func() time.Time

	// afterRead is a test hook wrapping each file's reader (simulated kills).
	afterRead func(path string, r io.Reader) io.Reader
}

// Progress is the state of an Upload, for a progress bar: bytes, MB/s, ETA.
// Bytes counts the bytes that will be read; a file found already uploaded
// is taken out of it (and counted in FilesDone), so the rate stays honest.
type Progress struct {
	Files, FilesDone int
	Bytes, BytesDone int64
	Started          time.Time
}

// Service uploads, links and verifies model files.
type Service struct {
	cfg Config
	log *slog.Logger
}

// New applies the defaults to cfg.
func New(cfg Config) *Service {
	if cfg.Container == "" {
		cfg.Container = DefaultContainer
	}
	if cfg.BlockSize <= 0 {
		cfg.BlockSize = DefaultBlockSize
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, log: cfg.Logger}
}

// SetProgress replaces Config.Progress. Call it before Upload, not during.
func (s *Service) SetProgress(fn func(Progress)) { s.cfg.Progress = fn }

// Container is the models container.
func (s *Service) Container() string { return s.cfg.Container }

const namePrefix = "sha256-"

// BlobName is the blob (and file) name of content with this SHA-256.
func BlobName(sum []byte) string { return namePrefix + hex.EncodeToString(sum) }

// ParseName returns the lowercase hex digest a model file name claims:
// exactly "sha256-" and 64 lowercase hex digits. Anything else is refused,
// because the name is the only proof of what the file should hold.
func ParseName(name string) (string, error) {
	h, ok := strings.CutPrefix(name, namePrefix)
	if !ok || len(h) != 64 {
		return "", fmt.Errorf("%q is not named sha256-<64 lowercase hex>", name)
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", fmt.Errorf("%q is not named sha256-<64 lowercase hex>", name)
		}
	}
	return h, nil
}

// atomName is the blob name an atom's ContentHash designates.
func atomName(a catalog.Atom) (string, error) {
	if len(a.ContentHash) != 32 {
		return "", fmt.Errorf("atom %d: ContentHash has %d bytes, want 32", a.ID, len(a.ContentHash))
	}
	return BlobName(a.ContentHash), nil
}

// errorsSummary is the one error a batch returns: how many items failed and
// the first reason (each item carries its own).
func errorsSummary(op string, failed, total int, first error) error {
	if failed == 0 {
		return nil
	}
	if first == nil {
		first = errors.New("see the per-item results")
	}
	return fmt.Errorf("models: %s: %d of %d failed; first: %w", op, failed, total, first)
}
