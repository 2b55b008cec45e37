package atoms

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/location"
)

// A receipt records, for a locator that is not content-named, the digest
// Upload computed for its file: Link, which reads no files, learns from it
// which sha256-<digest> blob the atom's file became. It is a small blob in
// the atom's container, locators/<SHA-256 of the PayloadLocator>, whose
// body is the locator itself (for a human reading the container) and whose
// metadata holds the digest and size. Keyed by the exact locator string:
// folding case or separators could make two different files share one.
//
// The receipt is only a pointer. The proof stays the blob's own metadata,
// written by Upload after hashing (or a rehash), which Link checks against
// the receipt's digest and size before it links anything.
//
// Receipt metadata keys (not Sha256/SizeBytes: those describe a blob's own
// content, and a receipt's content is the locator).
const (
	MetaFileSha256    = "FileSha256"
	MetaFileSizeBytes = "FileSizeBytes"
)

// ReceiptName is the receipt blob of a locator.
func ReceiptName(locator string) string {
	sum := sha256.Sum256([]byte(locator))
	return location.ReceiptPrefix + hex.EncodeToString(sum[:])
}

// writeReceipt records that the file at locator hashes to digest (size
// bytes). Overwriting is idempotent: the latest upload of a locator wins.
func (s *Service) writeReceipt(ctx context.Context, container, locator, digest string, size int64) error {
	_, err := s.cfg.Blobs.Upload(ctx, container, ReceiptName(locator), strings.NewReader(locator), blobstore.UploadOptions{
		ContentType: "text/plain; charset=utf-8",
		Metadata:    map[string]string{MetaFileSha256: digest, MetaFileSizeBytes: strconv.FormatInt(size, 10)},
	})
	if err != nil {
		return fmt.Errorf("record the digest of %q: %w", locator, err)
	}
	return nil
}

// readReceipt returns the digest and size recorded for locator; an error
// wrapping blobstore.ErrNotFound when none was.
func (s *Service) readReceipt(ctx context.Context, container, locator string) (string, int64, error) {
	props, err := s.cfg.Blobs.Properties(ctx, container, ReceiptName(locator))
	if err != nil {
		return "", 0, err
	}
	digest, err := location.ParseContentName(location.ContentPrefix + props.Meta(MetaFileSha256))
	if err != nil {
		return "", 0, fmt.Errorf("receipt %s: bad %s metadata: %w", ReceiptName(locator), MetaFileSha256, err)
	}
	size, err := strconv.ParseInt(props.Meta(MetaFileSizeBytes), 10, 64)
	if err != nil || size < 0 {
		return "", 0, fmt.Errorf("receipt %s: bad %s metadata %q", ReceiptName(locator), MetaFileSizeBytes, props.Meta(MetaFileSizeBytes))
	}
	return digest, size, nil
}
