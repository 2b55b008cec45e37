// Package blobstore is Offload's adapter over Azure Blob Storage (azblob):
// block-streamed uploads with per-block transactional checksums, properties,
// streamed and ranged downloads, listing and deletion.
//
// Memory is bounded by (Concurrency+1) × BlockSize per upload, whatever the size
// of the stream.
package blobstore

import (
	"errors"
	"time"
)

var (
	// ErrNotFound: the blob (or container) does not exist.
	ErrNotFound = errors.New("blobstore: not found")
	// ErrConflict: a condition failed (If-Match / If-None-Match), or the blob
	// exists where it must not.
	ErrConflict = errors.New("blobstore: condition failed")
	// ErrAborted: UploadOptions.BeforeCommit refused; nothing was committed.
	ErrAborted = errors.New("blobstore: upload aborted before commit")
)

// Defaults for uploads.
const (
	DefaultBlockSize   = 4 << 20
	DefaultConcurrency = 4
	// MaxBlocks is Azure's limit of blocks in one block blob.
	MaxBlocks = 50000
)

// Props are a blob's properties.
type Props struct {
	Size         int64
	ETag         string
	LastModified time.Time
	ContentType  string
	ContentMD5   []byte
	Metadata     map[string]string // keys as the service returns them, lowercased by Get* helpers
}

// Meta returns metadata value for key, case-insensitively ("" if absent).
func (p Props) Meta(key string) string {
	for k, v := range p.Metadata {
		if equalFold(k, key) {
			return v
		}
	}
	return ""
}

// Item is one entry of a listing: a blob, or with a delimiter a virtual
// directory (IsPrefix, Name ends with the delimiter).
type Item struct {
	Name         string
	Size         int64
	ETag         string
	LastModified time.Time
	// Metadata keys come lowercased from a listing (azblob folds them):
	// read them with Meta.
	Metadata map[string]string
	IsPrefix bool
}

// Meta returns metadata value for key, case-insensitively ("" if absent).
func (it Item) Meta(key string) string { return Props{Metadata: it.Metadata}.Meta(key) }

// Summary is what an upload has read, handed to BeforeCommit.
type Summary struct {
	Size   int64
	SHA256 [32]byte
	// MD5 is the whole stream's MD5 with SetContentMD5, or when the
	// stream went as one Put Blob; otherwise zero (not computed).
	MD5 [16]byte
}

// UploadOptions tune Upload. Zero values take the defaults.
type UploadOptions struct {
	BlockSize   int64 // bytes per staged block (DefaultBlockSize)
	Concurrency int   // blocks staged in parallel (DefaultConcurrency)
	ContentType string
	Metadata    map[string]string
	// HashMetadataKey, when set, stores the lowercase hex SHA-256 of the
	// whole stream in the blob's metadata under this key at commit time (the
	// hash is only known once the stream is read).
	HashMetadataKey string
	// SetContentMD5 stores the MD5 of the whole stream as the blob's
	// Content-MD5, so readers (and the service on single-shot uploads) can
	// check it.
	SetContentMD5 bool
	// IfMatch commits only over the blob with this ETag.
	IfMatch string
	// IfNoneMatchAny commits only if no blob exists (overwrite: false).
	IfNoneMatchAny bool
	// Resume reuses blocks already staged (uncommitted) under the same
	// deterministic block ids: a block whose id (index + MD5 of its bytes)
	// is already staged is not sent again.
	Resume bool
	// BeforeCommit runs after the whole stream was read and every block
	// staged, before the block list is committed. An error aborts the upload
	// (wrapped with ErrAborted); nothing is committed.
	BeforeCommit func(Summary) error
	// AfterStage is a test hook called after all blocks are staged and
	// before BeforeCommit. An error aborts like BeforeCommit.
	AfterStage func() error
}

// Result describes a committed upload.
type Result struct {
	Summary
	ETag          string
	LastModified  time.Time
	BlocksStaged  int // blocks sent in this call
	BlocksSkipped int // blocks reused from an earlier, interrupted upload
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
