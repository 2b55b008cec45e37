package models

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
)

// VerifyParams bound one verification pass over linked model atoms.
type VerifyParams struct {
	// Rehash reads every blob in full and compares its SHA-256 with
	// ContentHash (otherwise: exists, size, ETag).
	Rehash bool
	// Limit is the most atoms checked (0: all).
	Limit int
	// OlderThan keeps atoms never verified or verified longer ago than this.
	// Zero: every linked atom, or DefaultVerifyEvery when Limit is set, so
	// that bounded passes (the timer) rotate through all atoms.
	OlderThan time.Duration
	// DryRun checks but records nothing.
	DryRun bool
}

// VerifyResult is the verdict on one atom.
type VerifyResult struct {
	AtomID   int64
	BlobName string
	// Result: ok, missing, size, etag, sha256 (recorded on the atom), or
	// error (Err says why; nothing recorded).
	Result string
	Err    error
}

// Verify checks linked model atoms and records each verdict with
// RecordAtomVerified:
//
//   - missing: the blob is gone;
//   - size: its size is not BlobSizeBytes;
//   - etag: its ETag is not BlobETag. Cheap checks cannot tell a
//     metadata-only change from a rewrite (whoever rewrote the content could
//     have kept the Sha256 metadata), so a changed ETag is never ok without
//     a read: run with Rehash, which compares the content with ContentHash
//     and, when it matches, re-links the atom to the new ETag (result ok);
//   - sha256 (Rehash): the content does not hash to ContentHash.
//
// The error reports operational failures only (listing, storage or catalog
// errors, result "error"); bad verdicts are in the results.
func (s *Service) Verify(ctx context.Context, p VerifyParams) ([]VerifyResult, error) {
	now := s.cfg.Now()
	older := p.OlderThan
	if older <= 0 && p.Limit > 0 {
		older = DefaultVerifyEvery
	}
	f := catalog.AtomFilter{LinkedOnly: true}
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
		atoms, err := s.cfg.Catalog.ListModelAtoms(ctx, f)
		if err != nil {
			return results, fmt.Errorf("models: verify: list model atoms: %w", err)
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
				s.log.Warn("model atom verification error", "atom", a.ID, "blob", r.BlobName, "err", r.Err)
			default:
				s.log.Error("model atom failed verification", "atom", a.ID, "blob", r.BlobName, "result", r.Result)
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
	r := VerifyResult{AtomID: a.ID, BlobName: a.BlobName}
	fail := func(err error) VerifyResult {
		r.Result, r.Err = ResultError, fmt.Errorf("models: verify atom %d: %w", a.ID, err)
		return r
	}
	if len(a.ContentHash) != 32 {
		return fail(fmt.Errorf("ContentHash has %d bytes, want 32", len(a.ContentHash)))
	}
	if a.BlobName == "" {
		// Linked by hand with only a URI: the name follows from the hash.
		a.BlobName = BlobName(a.ContentHash)
		r.BlobName = a.BlobName
	}
	container := a.BlobContainer
	if container == "" {
		container = s.cfg.Container
	}
	result, newProps, err := s.check(ctx, a, container, p.Rehash)
	if err != nil {
		return fail(err)
	}
	r.Result = result
	if p.DryRun {
		return r
	}
	if newProps != nil {
		// Content proven equal under a new ETag: follow it.
		err := s.cfg.Catalog.LinkAtom(ctx, catalog.LinkAtomParams{
			ID: a.ID, BlobURI: a.BlobURI, BlobContainer: container, BlobName: a.BlobName,
			BlobSizeBytes: newProps.Size, BlobETag: newProps.ETag, BlobLastModified: newProps.LastModified,
		})
		if err != nil {
			return fail(fmt.Errorf("record new ETag: %w", err))
		}
	}
	if err := s.cfg.Catalog.RecordAtomVerified(ctx, catalog.AtomVerifiedParams{ID: a.ID, Result: result, Now: s.cfg.Now()}); err != nil {
		return fail(fmt.Errorf("record result: %w", err))
	}
	return r
}

// check returns the verdict, and the blob's properties when a rehash proved
// the content under another ETag than the one recorded.
func (s *Service) check(ctx context.Context, a catalog.Atom, container string, rehash bool) (string, *blobstore.Props, error) {
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
	if hex.EncodeToString(sum[:]) != hex.EncodeToString(a.ContentHash) {
		return ResultSha256, nil, nil
	}
	if dp.ETag != a.BlobETag {
		dp.Size = n
		return ResultOK, &dp, nil
	}
	return ResultOK, nil, nil
}
