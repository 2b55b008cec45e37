package atoms

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/location"
)

// VerifyParams bound one verification pass over linked atoms.
type VerifyParams struct {
	// Rehash reads every blob in full and compares its SHA-256 with the
	// digest it is named by (otherwise: exists, size, ETag).
	Rehash bool
	// Limit is the most atoms checked (0: all).
	Limit int
	// OlderThan keeps atoms never verified or verified longer ago than this.
	// Zero: every linked atom, or DefaultVerifyEvery when Limit is set, so
	// that bounded passes (the timer) rotate through all atoms.
	OlderThan time.Duration
	// DryRun checks but records nothing.
	DryRun bool
	// Modality keeps the atoms of one modality (catalog.ModalityModel);
	// "" verifies every modality.
	Modality string
}

// VerifyResult is the verdict on one atom.
type VerifyResult struct {
	AtomID    int64  `json:"atomId"`
	Modality  string `json:"modality"`
	Container string `json:"container"`
	BlobName  string `json:"blobName"`
	// Result: ok, missing, size, etag, sha256, locator (recorded on the
	// atom), or error (Err says why; nothing recorded).
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
	Err    error  `json:"-"`
}

// Verify checks linked atoms (of p.Modality, or every modality) and
// records each verdict with RecordAtomVerified:
//
//   - missing: the blob is gone;
//   - size: its size is not BlobSizeBytes;
//   - etag: its ETag is not BlobETag. Cheap checks cannot tell a
//     metadata-only change from a rewrite (whoever rewrote the content could
//     have kept the Sha256 metadata), so a changed ETag is never ok without
//     a read: run with Rehash, which compares the content with ContentHash
//     and, when it matches, re-links the atom to the new ETag (result ok);
//   - sha256 (Rehash): the content does not hash to the digest the blob is
//     named by (ContentHash is the atom's own hash, not the file's);
//   - locator: the atom's content-named PayloadLocator names another blob
//     than the one it is linked to (the locator changed): run link.
//
// The error reports operational failures only (listing, storage or catalog
// errors, result "error"); bad verdicts are in the results.
func (s *Service) Verify(ctx context.Context, p VerifyParams) ([]VerifyResult, error) {
	now := s.cfg.Now()
	older := p.OlderThan
	if older <= 0 && p.Limit > 0 {
		older = DefaultVerifyEvery
	}
	f := catalog.AtomFilter{Modality: p.Modality, LinkedOnly: true}
	if older > 0 {
		f.VerifiedBefore = now.Add(-older)
	}
	var results []VerifyResult
	failed := 0
	var first error
	for {
		f.Limit = pageSize
		if p.Limit > 0 {
			f.Limit = min(pageSize, p.Limit-len(results))
			if f.Limit <= 0 {
				break
			}
		}
		atoms, err := s.cfg.Catalog.ListAtoms(ctx, f)
		if err != nil {
			return results, fmt.Errorf("atoms: verify: list atoms: %w", err)
		}
		for _, a := range atoms {
			f.AfterID = a.ID
			r := s.verifyOne(ctx, a, p)
			switch r.Result {
			case ResultOK:
			case ResultError:
				failed++
				if first == nil {
					first = r.Err
				}
				s.log.Warn("atom verification error", "atom", a.ID, "blob", r.BlobName, "err", r.Err)
			default:
				s.log.Error("atom failed verification", "atom", a.ID, "modality", a.Modality, "blob", r.BlobName, "result", r.Result)
			}
			results = append(results, r)
		}
		if len(atoms) < f.Limit {
			break
		}
	}
	return results, errorsSummary("verify", failed, len(results), first)
}

func (s *Service) verifyOne(ctx context.Context, a catalog.Atom, p VerifyParams) VerifyResult {
	r := VerifyResult{AtomID: a.ID, Modality: a.Modality, BlobName: a.BlobName}
	fail := func(err error) VerifyResult {
		r.Result, r.Err = ResultError, fmt.Errorf("atoms: verify atom %d: %w", a.ID, err)
		r.Reason = r.Err.Error()
		return r
	}
	if a.BlobName == "" {
		// Linked by hand with only a URI: the name follows from the locator
		// (or the URI) when it is content-named.
		h, ok := contentName(a.PayloadLocator)
		if !ok {
			h, ok = contentName(uriPath(a.BlobURI))
		}
		if !ok {
			return fail(fmt.Errorf("linked without a BlobName, and neither PayloadLocator nor BlobUri is content-named: run atoms link"))
		}
		a.BlobName = location.ContentPrefix + h
		r.BlobName = a.BlobName
	}
	want, _ := location.ParseContentName(a.BlobName) // "" for a blob linked by hand under another name
	container := a.BlobContainer
	if container == "" {
		container = s.ContainerFor(a.Modality)
	}
	r.Container = container
	var (
		result   string
		newProps *blobstore.Props
	)
	if loc, ok := contentName(a.PayloadLocator); ok && want != "" && loc != want {
		result = ResultLocator
		r.Reason = fmt.Sprintf("PayloadLocator names sha256-%s, the atom is linked to %s: run atoms link", loc, a.BlobName)
	} else {
		var err error
		if p.Rehash && want == "" {
			return fail(fmt.Errorf("blob %s is not named sha256-<hex>: nothing to prove its content against", a.BlobName))
		}
		result, newProps, err = s.check(ctx, a, container, want, p.Rehash)
		if err != nil {
			return fail(err)
		}
	}
	r.Result = result
	if p.DryRun {
		return r
	}
	if newProps != nil {
		// Content proven equal under a new ETag: follow it.
		err := s.cfg.Catalog.LinkAtom(ctx, catalog.LinkAtomParams{
			ID: a.ID, ExpectLocator: a.PayloadLocator, BlobURI: a.BlobURI, BlobContainer: container, BlobName: a.BlobName,
			BlobSizeBytes: newProps.Size, BlobETag: newProps.ETag, BlobLastModified: newProps.LastModified,
		})
		if err != nil {
			return fail(fmt.Errorf("record new ETag: %w", err))
		}
	}
	if err := s.cfg.Catalog.RecordAtomVerified(ctx, catalog.RecordAtomVerifiedParams{ID: a.ID, Result: result, Now: s.cfg.Now()}); err != nil {
		return fail(fmt.Errorf("record result: %w", err))
	}
	if result == ResultOK {
		s.keepPath(ctx, a, container, want)
	}
	return r
}

// uriPath is the path of a blob URI ("" when it does not parse).
func uriPath(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	return u.Path
}

// check returns the verdict, and the blob's properties when a rehash proved
// the content under another ETag than the one recorded.
func (s *Service) check(ctx context.Context, a catalog.Atom, container, want string, rehash bool) (string, *blobstore.Props, error) {
	props, err := s.cfg.Blobs.Properties(ctx, container, a.BlobName)
	if errors.Is(err, blobstore.ErrNotFound) {
		return ResultMissing, nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	if props.Size != a.BlobSizeBytes {
		return ResultSize, nil, nil
	}
	if !rehash {
		if props.ETag != a.BlobETag {
			return ResultETag, nil, nil
		}
		return ResultOK, nil, nil
	}
	sum, n, dp, err := s.hashBlob(ctx, container, a.BlobName)
	if errors.Is(err, blobstore.ErrNotFound) {
		return ResultMissing, nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	if n != a.BlobSizeBytes {
		return ResultSize, nil, nil
	}
	if hex.EncodeToString(sum[:]) != want {
		return ResultSha256, nil, nil
	}
	if dp.ETag != a.BlobETag {
		dp.Size = n
		return ResultOK, &dp, nil
	}
	return ResultOK, nil, nil
}
