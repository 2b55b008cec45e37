package atoms

import (
	"context"
	"errors"
	"fmt"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/location"
)

// FilesReadable is FileResult.Files for an atom whose file the Files API
// reads by its PayloadLocator.
const FilesReadable = "readable"

// recordPaths records, for each distinct locator of an uploaded item's
// atoms, where its file now is (location.Index), so that the Files API
// finds it by the path T-SQL used, and says on each result whether Files
// can read it. A path the index cannot hold is reported, not failed: the
// file is uploaded and proven. Two files claiming one Windows path, or a
// storage error, fail the atoms concerned.
func (s *Service) recordPaths(ctx context.Context, results []FileResult) {
	done := map[string]error{}
	for i := range results {
		r := &results[i]
		if s.cfg.Index == nil || r.Failed() || r.Outcome == OutcomeWouldUpload || r.Locator == "" {
			continue
		}
		key := r.Container + "\x00" + r.Locator
		err, seen := done[key]
		if !seen {
			err = s.cfg.Index.Record(ctx, location.Entry{
				Locator: r.Locator, Container: r.Container, Blob: r.BlobName, Sha256: r.Sha256, Size: r.Size,
			})
			done[key] = err
		}
		var pe *location.PathError
		switch {
		case errors.As(err, &pe):
			r.Files = "not readable through Files: " + pe.Reason
		case err != nil:
			r.Outcome, r.Err = OutcomeFailed, fmt.Errorf("atoms: atom %d: uploaded as %s/%s, but %w", r.AtomID, r.Container, r.BlobName, err)
			r.Reason = r.Err.Error()
		default:
			r.Files = s.readable(r.Locator)
		}
	}
}

// readable says whether the Files API reaches a recorded locator under
// FILES_ROOTS.
func (s *Service) readable(locator string) string {
	_, err := location.MapFile(s.cfg.Roots, locator)
	var pe *location.PathError
	switch {
	case err == nil:
		return FilesReadable
	case errors.As(err, &pe) && pe.Code == location.CodeOutside:
		return "not readable through Files until a FILES_ROOTS root covers it (recorded: adding the root is enough)"
	case errors.As(err, &pe):
		return "not readable through Files: " + pe.Reason
	}
	return "not readable through Files: " + err.Error()
}

// keepPath records a verified atom's path in the index where it has no
// entry (linked before the index existed, or the entry was deleted), so
// that the Files API keeps finding the file by it. A path the index cannot
// hold is no error; a failure is logged, never a verdict on the blob.
func (s *Service) keepPath(ctx context.Context, a catalog.Atom, container, digest string) {
	if s.cfg.Index == nil || a.PayloadLocator == "" || digest == "" {
		return
	}
	err := s.cfg.Index.Ensure(ctx, location.Entry{Locator: a.PayloadLocator, Container: container, Blob: a.BlobName,
		Sha256: digest, Size: a.BlobSizeBytes})
	var pe *location.PathError
	if err != nil && !errors.As(err, &pe) {
		s.log.Warn("atom path not recorded", "atom", a.ID, "locator", a.PayloadLocator, "err", err)
	}
}
