// Package atoms offloads Hartonomous atom files (dbo.Atoms rows with a
// PayloadLocator, of every Modality) to Blob Storage and links the rows to
// their blobs: model atoms to the models container (MODELS_CONTAINER), the
// others (images, audio, …) to the atoms container (ATOMS_CONTAINER).
//
// The locator decides. An atom's file is its PayloadLocator, and its blob
// is named by the SHA-256 of that file's content, sha256-<64 lowercase
// hex>, as the seed's link step derives BlobName from the locator. Each
// uploaded file is also recorded by its locator in the location index, so
// the Files API reads it by the path T-SQL used (package location).
// ContentHash is the atom's own hash: it need not be the file's digest, so
// it is only a cross-check, reported ("matches file digest" / "differs from
// file digest"), never a key and never a reason to refuse.
//
//   - A content-named locator (last element sha256-<64 hex>, either path
//     separator, any case: Ollama's blob layout) names its blob directly.
//     The name is a claim: Upload hashes the stream while it stages it and
//     commits only when the digest equals the name, so a file whose name
//     lies is refused and nothing is committed.
//   - A locator that is not content-named (D:\Models\llama4\model.gguf) is
//     named by the digest Upload computes: it hashes the file, then streams
//     it under sha256-<digest>, committing only when the digest computed
//     while streaming is that same one (see upload.go for why two local
//     reads), and records the locator's digest in a receipt blob
//     (locators/<SHA-256 of the locator>) for Link. Files with the same
//     content, and atoms on the same file, get one blob.
//   - Every blob Upload commits carries its digest in its metadata (Sha256,
//     SizeBytes), written only after hashing, so later steps need not read
//     the blob again. Link fills an atom's Blob* columns only for a blob so
//     proven (by that metadata, or with Rehash by a full read), and only
//     while the atom still has the locator the blob was proved for.
//   - Verify re-checks linked atoms: cheaply (exists, size, ETag) or, with
//     Rehash, by a full read compared with the digest the blob is named by.
//
// PayloadLocator is never changed: it stays until a human drops it.
package atoms

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/location"
)

// Defaults for Config.
const (
	DefaultModelsContainer = "models"
	DefaultAtomsContainer  = "atoms"
	DefaultBlockSize       = 8 << 20
	DefaultConcurrency     = 8
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
	OutcomeSkipped     = "skipped" // already uploaded and proven
	OutcomeResumed     = "resumed"
	OutcomeWouldUpload = "would-upload"
)

// Outcomes of Link (LinkResult.Outcome).
const (
	OutcomeLinked      = "linked"
	OutcomeAlready     = "already-linked"
	OutcomeMissingBlob = "missing-blob"
	OutcomeWouldLink   = "would-link"
)

// Outcomes of both. Failures: missing-file, missing-blob, unproven, failed.
const (
	// OutcomeMissingFile: no file to read (none at the locator, or no
	// locator at all).
	OutcomeMissingFile = "missing-file"
	// OutcomeUnproven: the content is not shown to be what the name says
	// (a file whose name lies, a blob without or with other metadata).
	OutcomeUnproven = "unproven"
	// OutcomeFailed: an error (storage, catalog, a refused locator).
	OutcomeFailed = "failed"
)

// The ContentHash cross-check (FileResult/LinkResult.ContentHash).
const (
	ContentHashMatches = "matches file digest"
	ContentHashDiffers = "differs from file digest"
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
	// ResultLocator: the atom's content-named PayloadLocator names another
	// blob than the one it is linked to (the locator changed): run link.
	ResultLocator = "locator"
	ResultError   = "error"
)

// Config wires a Service. Zero values take the defaults.
type Config struct {
	Blobs   *blobstore.Client
	Catalog catalog.Catalog
	// ModelsContainer receives the model atoms' blobs (MODELS_CONTAINER)
	// and the files given by name; AtomsContainer those of every other
	// modality (ATOMS_CONTAINER).
	ModelsContainer, AtomsContainer string
	// Index records each uploaded atom file by its PayloadLocator, for
	// the Files API (nil: not recorded).
	Index *location.Index
	// Roots are FILES_ROOTS: an upload reports whether Files reaches each
	// atom's file.
	Roots []config.Root
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

// Progress is the state of an Upload, for a progress bar: bytes, rate, ETA.
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
	if cfg.ModelsContainer == "" {
		cfg.ModelsContainer = DefaultModelsContainer
	}
	if cfg.AtomsContainer == "" {
		cfg.AtomsContainer = DefaultAtomsContainer
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

// ContainerFor is the container of an atom's blob: model atoms in
// ModelsContainer, every other modality in AtomsContainer.
func (s *Service) ContainerFor(modality string) string {
	if modality == catalog.ModalityModel {
		return s.cfg.ModelsContainer
	}
	return s.cfg.AtomsContainer
}

// ensureContainers creates the given containers and the index's, once each.
func (s *Service) ensureContainers(ctx context.Context, containers map[string]bool) error {
	if s.cfg.Index != nil {
		containers[s.cfg.Index.Container()] = true
	}
	for _, c := range slices.Sorted(maps.Keys(containers)) {
		if err := s.cfg.Blobs.EnsureContainer(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// contentName returns the digest a content-named locator's last element
// claims, and whether it is content-named at all.
func contentName(locator string) (string, bool) {
	if locator == "" {
		return "", false
	}
	h, err := location.ParseContentName(locatorBase(locator))
	return h, err == nil
}

// contentHashCheck compares an atom's ContentHash with its file's digest.
func contentHashCheck(a catalog.Atom, digest string) string {
	if digest == "" {
		return ""
	}
	if hex.EncodeToString(a.ContentHash) == digest {
		return ContentHashMatches
	}
	return ContentHashDiffers
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
	return fmt.Errorf("atoms: %s: %d of %d failed; first: %w", op, failed, total, first)
}
