// Package catalog is Offload's only door to the Hartonomous database.
//
// The domain packages (segments, models) speak to a Catalog; they never see
// SQL text. Each engine has a dialect package that implements Catalog:
// catalog/mssql (Azure SQL / SQL Server, T-SQL through go-mssqldb) and
// catalog/sqlite (the embedded catalog, modernc.org/sqlite). The conformance
// suite in catalog/catalogtest runs the same tests against both.
//
// Every state change is a conditional update (compare-and-set on the row), so
// at-least-once delivery, retries and two workers on one row are harmless.
//
// One parameter style, as River's driver interface has: every method takes
// its context and then at most one argument. That argument is the row id
// for a getter of one row (GetSegment), and otherwise one struct: named for
// its method, <Method>Params (ClaimSegmentParams, FinalizeParams,
// MarkOutboxSentParams…), when it says how to make the call; named for what
// it holds when it is a value of the domain, a filter (SegmentFilter,
// AtomFilter) or a row to write (NewSegment, OutboxMessage). ApplyProcs
// shares Apply's ApplyParams. A new method follows the same rule, so adding
// a field never changes a signature.
//
// The demo's and the tests' writes of Hartonomous rows are a Seeder, which
// every dialect implements beside Catalog but which is no part of it.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Errors every dialect returns (wrapped with context; test with errors.Is).
var (
	// ErrNotFound: the row does not exist.
	ErrNotFound = errors.New("catalog: not found")
	// ErrConflict: a conditional update found the row in another state than
	// the caller expected (another worker won, or the row changed).
	ErrConflict = errors.New("catalog: conflict")
	// ErrClaimed: the segment is claimed by another live worker.
	ErrClaimed = errors.New("catalog: claimed by another worker")
	// ErrNotEmpty: demo data is written only into empty tables.
	ErrNotEmpty = errors.New("catalog: tables already hold rows")
)

// State is a segment's migration state, stored in LayerTensorSegments.OffloadState.
type State string

const (
	// StatePending: not migrated, not queued.
	StatePending State = "pending"
	// StateQueued: a migration message was sent at QueuedAt.
	StateQueued State = "queued"
	// StateMigrated: the blob is written and the row records its SHA-256,
	// URI, ETag and size; not yet read back.
	StateMigrated State = "migrated"
	// StateVerified: the blob was read back and matched the recorded hash.
	StateVerified State = "verified"
	// StateMismatch: verification found the blob missing or wrong while the
	// source bytes are still present; the segment is re-queued.
	StateMismatch State = "mismatch"
	// StateLost: verification found the blob missing or wrong after the
	// source was released. Only a human can fix this.
	StateLost State = "lost"
	// StateReleased: RawPayload was emptied after verification.
	StateReleased State = "released"
)

// AllStates in the order reports show them.
var AllStates = []State{StatePending, StateQueued, StateMigrated, StateVerified, StateMismatch, StateLost, StateReleased}

// Segment is one dbo.LayerTensorSegments row with Offload's bookkeeping.
// It never carries RawPayload: payloads are streamed with OpenPayload.
type Segment struct {
	ID               int64
	LayerID          int64
	ModelID          int64
	SegmentOrdinal   int64
	QuantizationType string

	// PayloadBytes is DATALENGTH(RawPayload): 0 once released.
	PayloadBytes int64

	State         State
	Sha256        string // lowercase hex of the source payload, "" before migration
	BlobURI       string
	BlobETag      string
	BlobSizeBytes int64
	Attempts      int64
	LastError     string
	VerifyResult  string
	QueuedAt      time.Time // zero when never
	MigratedAt    time.Time
	VerifiedAt    time.Time
	ReleasedAt    time.Time
	ClaimedUntil  time.Time
}

// SegmentFilter selects segments for ListSegments. Zero fields do not filter.
// Results are ordered by ID; page with AfterID = last ID seen.
type SegmentFilter struct {
	ModelID int64
	LayerID int64
	States  []State
	AfterID int64
	Limit   int // required, > 0
	// QueuedBefore keeps only rows never queued or queued before this time.
	QueuedBefore time.Time
	// VerifiedBefore keeps only rows never verified or verified before this.
	VerifiedBefore time.Time
}

// ClaimSegmentParams claims a segment for migration until Until. A claim held by
// another token that has not expired makes ClaimSegment return ErrClaimed.
type ClaimSegmentParams struct {
	ID    int64
	Token string
	Now   time.Time
	Until time.Time
}

// RecordMigratedParams records a committed blob on the row.
type RecordMigratedParams struct {
	ID      int64
	Token   string // the claim token; the update applies only while it holds
	Sha256  string // lowercase hex, computed from the source stream
	BlobURI string
	ETag    string
	Size    int64
	Now     time.Time
}

// RecordVerifiedParams records a verification outcome. It applies only while the
// row still records ExpectETag and ExpectSha256 (a concurrent re-migration
// wins over a stale verification).
type RecordVerifiedParams struct {
	ID           int64
	ExpectSha256 string
	ExpectETag   string
	State        State  // StateVerified, StateMismatch or StateLost (or unchanged state for cheap checks)
	Result       string // short text: "ok", "ok-cheap", "missing", "size", "sha256", "etag"…
	// NewETag replaces BlobETag when a verification proved content equal
	// under a new ETag (e.g. metadata-only change); "" keeps it.
	NewETag string
	Now     time.Time
}

// ReleasePayloadParams empties RawPayload of a verified row whose blob fields are
// still those that were verified.
type ReleasePayloadParams struct {
	ID           int64
	ExpectSha256 string
	ExpectETag   string
	Now          time.Time
}

// FinalizeParams controls the finalize step.
type FinalizeParams struct {
	// DryRun checks that every segment is released and changes nothing.
	DryRun bool
}

// MarkQueuedParams marks the rows IDs queued at Now.
type MarkQueuedParams struct {
	IDs []int64
	Now time.Time
}

// ReleaseClaimParams drops the claim Token holds on row ID.
type ReleaseClaimParams struct {
	ID    int64
	Token string
}

// OpenPayloadParams opens row ID's RawPayload, read Chunk bytes at a time.
type OpenPayloadParams struct {
	ID    int64
	Chunk int // required, > 0
}

// RecordFailureParams records a failed migration attempt of row ID under
// the claim Token.
type RecordFailureParams struct {
	ID    int64
	Token string
	Error string // stored in OffloadError, truncated to fit
	Now   time.Time
}

// ResetBlobParams puts row ID back to pending while it still records
// ExpectETag; Reason is stored in OffloadError.
type ResetBlobParams struct {
	ID         int64
	ExpectETag string
	Reason     string
	Now        time.Time
}

// MigratedSinceParams sums what was migrated at or after Since.
type MigratedSinceParams struct {
	Since time.Time
}

// StatusRow is one (model, state) group.
type StatusRow struct {
	ModelID   int64
	ModelName string
	State     State
	Segments  int64
	// PayloadBytes sums DATALENGTH(RawPayload); BlobBytes sums BlobSizeBytes.
	PayloadBytes   int64
	BlobBytes      int64
	LastVerifiedAt time.Time
	LastMigratedAt time.Time
}

// Throughput is what was migrated in a window: segments, their blob bytes,
// and the earliest MigratedAt among them (zero when none).
type Throughput struct {
	Segments int64
	Bytes    int64
	First    time.Time
}

// Atom is a dbo.Atoms row that has a file: a PayloadLocator, or a blob
// already linked, or Modality 'model' (a model atom without a locator is
// listed so that it is reported).
type Atom struct {
	ID               int64
	ContentHash      []byte // 32 bytes
	Modality         string
	SourceType       string
	PayloadLocator   string
	BlobURI          string
	BlobContainer    string
	BlobName         string
	BlobSizeBytes    int64
	BlobETag         string
	BlobLastModified time.Time
	VerifiedAt       time.Time
	VerifyResult     string
}

// ModalityModel is the Modality of model atoms.
const ModalityModel = "model"

// AtomFilter selects atoms that have a file (see Atom), ordered by ID.
type AtomFilter struct {
	AfterID int64
	Limit   int
	// Modality keeps only atoms of this Modality (ModalityModel, "image",
	// …); "" keeps every modality.
	Modality string
	// LinkedOnly keeps only atoms with a BlobUri, UnlinkedOnly only atoms
	// without one; neither keeps all.
	LinkedOnly   bool
	UnlinkedOnly bool
	// VerifiedBefore keeps only atoms never verified or verified before this.
	VerifiedBefore time.Time
}

// AtomStatusRow counts one modality's atoms that have a file.
type AtomStatusRow struct {
	Modality string
	// Atoms have a file; Linked have a BlobUri; Verified were last
	// verified "ok"; Failed were last verified with another result.
	Atoms, Linked, Verified, Failed int64
	// Bytes sums BlobSizeBytes of the linked atoms.
	Bytes int64
}

// LinkAtomParams fills the Blob* columns of an atom. PayloadLocator stays.
//
// ExpectLocator is the PayloadLocator the caller read and proved the blob
// for (a NULL locator reads as ""): the link applies only while the row
// still holds it, so an atom whose locator changed meanwhile is never
// pointed at the blob of the file it used to name.
type LinkAtomParams struct {
	ID               int64
	ExpectLocator    string
	BlobURI          string
	BlobContainer    string
	BlobName         string
	BlobSizeBytes    int64
	BlobETag         string
	BlobLastModified time.Time
}

// RecordAtomVerifiedParams records an atom verification (every modality).
type RecordAtomVerifiedParams struct {
	ID     int64
	Result string
	Now    time.Time
}

// PayloadReader streams one RawPayload in chunks from a consistent snapshot of
// the row. Read never loads more than the chunk size it was opened with.
// Close must be called; it ends the snapshot.
type PayloadReader interface {
	io.ReadCloser
	// Size is DATALENGTH(RawPayload) in the snapshot.
	Size() int64
}

// ApplyParams controls the schema step.
type ApplyParams struct {
	// DryRun returns the statements without running them.
	DryRun bool
}

// Catalog is everything Offload reads and writes in the database.
type Catalog interface {
	// Dialect names the engine: "sqlite" or "mssql".
	Dialect() string

	// Apply creates missing Hartonomous tables (SQLite only) and adds the
	// Offload columns and indexes (both engines). Idempotent: a second run
	// changes nothing and returns no error. Returns the statements that ran
	// (or would run, with DryRun).
	Apply(ctx context.Context, p ApplyParams) ([]string, error)

	// Finalize drops RawPayload and PayloadRowGuid (and the constraints on
	// them) only when every segment is released. Otherwise it changes
	// nothing and returns the number of unreleased rows with ErrConflict.
	Finalize(ctx context.Context, p FinalizeParams) (unreleased int64, err error)

	// GetSegment returns ErrNotFound for an unknown id.
	GetSegment(ctx context.Context, id int64) (Segment, error)
	// ListSegments pages by key; it never loads all rows.
	ListSegments(ctx context.Context, f SegmentFilter) ([]Segment, error)

	// MarkQueued moves the given rows from pending/queued/mismatch to queued
	// with QueuedAt = now. Rows in other states are left alone. Returns the
	// number of rows changed.
	MarkQueued(ctx context.Context, p MarkQueuedParams) (int64, error)

	// ClaimSegment takes an exclusive, expiring claim on a row for migration.
	// Idempotent for the same token. Returns ErrNotFound or ErrClaimed.
	ClaimSegment(ctx context.Context, p ClaimSegmentParams) error
	// ReleaseClaim drops a claim held by p.Token (no error if not held).
	ReleaseClaim(ctx context.Context, p ReleaseClaimParams) error

	// OpenPayload opens RawPayload for chunked reading (p.Chunk bytes per
	// query on SQL Server; incremental blob I/O on SQLite). ErrNotFound if
	// no row.
	OpenPayload(ctx context.Context, p OpenPayloadParams) (PayloadReader, error)

	// RecordMigrated sets the blob fields, PayloadSha256 and state migrated,
	// and drops the claim, while the claim token holds. If the row already
	// records the same Sha256 it is a no-op success; a different recorded
	// Sha256 returns ErrConflict and changes nothing.
	RecordMigrated(ctx context.Context, p RecordMigratedParams) error
	// RecordFailure increments OffloadAttempts, sets OffloadError and drops
	// the claim held by p.Token. ErrConflict when another worker holds the
	// claim now (a stale failure changes nothing).
	RecordFailure(ctx context.Context, p RecordFailureParams) error

	// RecordVerified stores a verification outcome (see RecordVerifiedParams).
	// ErrConflict when the row no longer records the expected blob.
	RecordVerified(ctx context.Context, p RecordVerifiedParams) error
	// ResetBlob clears the blob fields and hash of a row whose source is
	// still present, putting it back to pending, while it still records
	// p.ExpectETag. ErrConflict otherwise.
	ResetBlob(ctx context.Context, p ResetBlobParams) error

	// ReleasePayload empties RawPayload for a verified row (see
	// ReleasePayloadParams). ErrConflict when the row is not verified or changed.
	// The same release again (same blob, same Now: a retry after its
	// answer was lost) succeeds and changes nothing.
	ReleasePayload(ctx context.Context, p ReleasePayloadParams) error

	// Status groups segments by model and state.
	Status(ctx context.Context) ([]StatusRow, error)
	// MigratedSince sums the segments whose MigratedAt is at or after
	// p.Since (throughput and ETA for status reports).
	MigratedSince(ctx context.Context, p MigratedSinceParams) (Throughput, error)

	// ListAtoms pages the dbo.Atoms rows that have a file (see Atom).
	ListAtoms(ctx context.Context, f AtomFilter) ([]Atom, error)
	// AtomStatus counts the atoms that have a file, by modality.
	AtomStatus(ctx context.Context) ([]AtomStatusRow, error)
	// LinkAtom fills the Blob* columns while PayloadLocator still equals
	// p.ExpectLocator; PayloadLocator is kept. ErrNotFound for an unknown
	// id, ErrConflict when the locator changed (nothing is written).
	LinkAtom(ctx context.Context, p LinkAtomParams) error
	// RecordAtomVerified stores an atom verification outcome.
	RecordAtomVerified(ctx context.Context, p RecordAtomVerifiedParams) error

	// Outbox is the transactional outbox (outbox.go).
	Outbox

	// Monitor is what the live migration page reads (monitor.go).
	Monitor

	Close() error
}

// NewModel, NewLayer, NewSegment and NewAtom are rows the Seeder inserts.
type NewModel struct{ Name, Type string }
type NewLayer struct {
	ModelID          int64
	LayerIdx         int64
	LayerName        string
	QuantizationType string
}
type NewSegment struct {
	LayerID          int64
	SegmentOrdinal   int64
	PointOffset      int64
	PointCount       int64
	QuantizationType string
	// Payload is streamed into RawPayload; Size is its exact length.
	Payload io.Reader
	Size    int64
}
type NewAtom struct {
	ContentHash    []byte
	Modality       string
	SourceType     string
	PayloadLocator string
	Metadata       string
}

// OverwritePayloadParams replaces row ID's RawPayload with Size bytes
// streamed from Payload.
type OverwritePayloadParams struct {
	ID      int64
	Payload io.Reader
	Size    int64
}

// Seeder writes Hartonomous rows: the demo data set and tests. It is no
// part of Catalog, so no production path can write a Hartonomous row;
// every dialect implements it, and SeederOf gets it from a Catalog.
type Seeder interface {
	// PrepareSeed makes the catalog ready for demo rows: ErrNotEmpty when
	// any Hartonomous table already holds a row (nothing changes), else
	// the tables are created where missing. Seeding never writes into a
	// catalog that holds someone's data.
	PrepareSeed(ctx context.Context) error
	InsertModel(ctx context.Context, m NewModel) (int64, error)
	InsertLayer(ctx context.Context, l NewLayer) (int64, error)
	InsertSegment(ctx context.Context, s NewSegment) (int64, error)
	InsertAtom(ctx context.Context, a NewAtom) (int64, error)
	// OverwritePayload replaces a segment's RawPayload (tests: "source changed").
	OverwritePayload(ctx context.Context, p OverwritePayloadParams) error
}

// SeederOf returns the Seeder of c's dialect (the demo's way to it from
// the Catalog it opened).
func SeederOf(c Catalog) (Seeder, error) {
	s, ok := c.(Seeder)
	if !ok {
		return nil, fmt.Errorf("catalog: the %s catalog cannot be seeded", c.Dialect())
	}
	return s, nil
}
