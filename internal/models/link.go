package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
)

// LinkParams control Link.
type LinkParams struct {
	// Rehash proves blobs that carry no (or another) Sha256 metadata — put
	// there by another tool — with a full streamed SHA-256, then writes the
	// metadata so the next run needs no rehash.
	Rehash bool
	// DryRun proves (Rehash reads too) but writes nothing.
	DryRun bool
}

// LinkResult is the outcome for one model atom.
type LinkResult struct {
	AtomID   int64
	BlobName string
	// Outcome: linked, already (linked to this blob before), unproven (the
	// blob's content is not shown to be ContentHash), missing (no blob),
	// failed (an error), would-link (DryRun).
	Outcome string
	Reason  string
}

// Link fills the Blob* columns of every model atom whose blob
// (sha256-<hex of ContentHash> in the models container) exists and is
// proven to hold ContentHash: by the Sha256 metadata our Upload writes only
// after hashing, or with Rehash by reading the blob. PayloadLocator stays.
// Atoms it cannot link are listed with the reason, and the error counts them.
func (s *Service) Link(ctx context.Context, p LinkParams) ([]LinkResult, error) {
	var results []LinkResult
	failed := 0
	var first error
	var after int64
	for {
		atoms, err := s.cfg.Catalog.ListModelAtoms(ctx, catalog.AtomFilter{AfterID: after, Limit: pageSize})
		if err != nil {
			return results, fmt.Errorf("models: link: list model atoms: %w", err)
		}
		for _, a := range atoms {
			after = a.ID
			r := s.linkOne(ctx, a, p)
			switch r.Outcome {
			case OutcomeLinked, OutcomeAlready, OutcomeWouldLink:
				if r.Outcome != OutcomeAlready {
					s.log.Info("model atom linked", "atom", a.ID, "blob", r.BlobName, "dryRun", p.DryRun)
				}
			default:
				failed++
				if first == nil {
					first = fmt.Errorf("atom %d: %s: %s", r.AtomID, r.Outcome, r.Reason)
				}
				s.log.Warn("model atom not linked", "atom", a.ID, "blob", r.BlobName, "outcome", r.Outcome, "reason", r.Reason)
			}
			results = append(results, r)
		}
		if len(atoms) < pageSize {
			break
		}
	}
	return results, errorsSummary("link", failed, len(results), first)
}

func (s *Service) linkOne(ctx context.Context, a catalog.Atom, p LinkParams) LinkResult {
	r := LinkResult{AtomID: a.ID}
	name, err := atomName(a)
	if err != nil {
		r.Outcome, r.Reason = OutcomeFailed, err.Error()
		return r
	}
	r.BlobName = name
	want := name[len(namePrefix):]
	if a.BlobURI != "" && a.BlobName == name && a.BlobContainer == s.cfg.Container {
		// Linked before; whether the blob is still right is Verify's job.
		r.Outcome = OutcomeAlready
		return r
	}
	props, err := s.cfg.Blobs.Properties(ctx, s.cfg.Container, name)
	if errors.Is(err, blobstore.ErrNotFound) {
		r.Outcome, r.Reason = OutcomeMissing, fmt.Sprintf("no blob %s/%s: run models upload", s.cfg.Container, name)
		return r
	}
	if err != nil {
		r.Outcome, r.Reason = OutcomeFailed, err.Error()
		return r
	}

	proven := props.Meta(MetaSha256) == want
	if proven {
		if sz := props.Meta(MetaSizeBytes); sz != "" && sz != strconv.FormatInt(props.Size, 10) {
			// Our upload writes both: a disagreement means the blob was
			// replaced while its metadata was kept.
			proven = false
		}
	}
	if !proven && !p.Rehash {
		r.Outcome = OutcomeUnproven
		if got := props.Meta(MetaSha256); got != "" && got != want {
			r.Reason = fmt.Sprintf("sha256 mismatch: metadata Sha256 is %s", got)
		} else if got != "" {
			r.Reason = "size mismatch: metadata SizeBytes differs from the blob's size"
		} else {
			r.Reason = "no Sha256 metadata (uploaded by another tool): run with --rehash"
		}
		return r
	}
	if !proven {
		// Rehash: read the whole blob. The download is pinned to the ETag
		// it started with, and the metadata is written only over that ETag,
		// so what gets linked is exactly what was hashed.
		sum, n, dp, err := s.hashBlob(ctx, s.cfg.Container, name)
		if err != nil {
			r.Outcome, r.Reason = OutcomeFailed, err.Error()
			return r
		}
		if got := hex.EncodeToString(sum[:]); got != want {
			r.Outcome, r.Reason = OutcomeUnproven, fmt.Sprintf("sha256 mismatch: the blob hashes to %s", got)
			return r
		}
		props = dp
		props.Size = n
		if !p.DryRun {
			md := maps.Clone(props.Metadata)
			if md == nil {
				md = map[string]string{}
			}
			for k := range md {
				if strings.EqualFold(k, MetaSha256) || strings.EqualFold(k, MetaSizeBytes) {
					delete(md, k)
				}
			}
			md[MetaSha256] = want
			md[MetaSizeBytes] = strconv.FormatInt(n, 10)
			if _, err := s.cfg.Blobs.SetMetadata(ctx, s.cfg.Container, name, md, props.ETag); err != nil {
				r.Outcome, r.Reason = OutcomeFailed, fmt.Sprintf("record Sha256 metadata (blob changed while hashed?): %v", err)
				return r
			}
			// The metadata write gave the blob a new ETag and LastModified.
			if props, err = s.cfg.Blobs.Properties(ctx, s.cfg.Container, name); err != nil {
				r.Outcome, r.Reason = OutcomeFailed, err.Error()
				return r
			}
			if props.Meta(MetaSha256) != want || props.Size != n {
				r.Outcome, r.Reason = OutcomeFailed, "blob changed right after it was hashed"
				return r
			}
		}
	}
	if p.DryRun {
		r.Outcome = OutcomeWouldLink
		return r
	}
	err = s.cfg.Catalog.LinkAtom(ctx, catalog.LinkAtomParams{
		ID:               a.ID,
		BlobURI:          s.cfg.Blobs.URL(s.cfg.Container, name),
		BlobContainer:    s.cfg.Container,
		BlobName:         name,
		BlobSizeBytes:    props.Size,
		BlobETag:         props.ETag,
		BlobLastModified: props.LastModified,
	})
	if err != nil {
		r.Outcome, r.Reason = OutcomeFailed, fmt.Sprintf("record link: %v", err)
		return r
	}
	r.Outcome = OutcomeLinked
	return r
}

// hashBlob streams the whole blob through SHA-256 in constant memory. It
// returns the digest, the bytes read and the properties the download saw.
func (s *Service) hashBlob(ctx context.Context, container, name string) ([32]byte, int64, blobstore.Props, error) {
	var sum [32]byte
	body, props, err := s.cfg.Blobs.Download(ctx, container, name, 0, 0)
	if err != nil {
		return sum, 0, props, err
	}
	defer body.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, body, make([]byte, 1<<20))
	if err != nil {
		return sum, n, props, fmt.Errorf("models: read %s/%s: %w", container, name, err)
	}
	if n != props.Size {
		return sum, n, props, fmt.Errorf("models: read %s/%s: %d bytes, the blob has %d", container, name, n, props.Size)
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, props, nil
}
