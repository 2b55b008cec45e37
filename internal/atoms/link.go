package atoms

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/location"
)

// LinkParams control Link.
type LinkParams struct {
	// Rehash proves blobs that carry no (or another) Sha256 metadata — put
	// there by another tool — with a full streamed SHA-256 compared with
	// the digest the blob is named by, then writes the metadata so the next
	// run needs no rehash.
	Rehash bool
	// DryRun proves (Rehash reads too) but writes nothing.
	DryRun bool
	// Modality keeps the atoms of one modality (catalog.ModalityModel);
	// "" links every modality.
	Modality string
}

// LinkResult is the outcome for one atom.
type LinkResult struct {
	AtomID    int64  `json:"atomId"`
	Modality  string `json:"modality"`
	Locator   string `json:"payloadLocator"`
	Container string `json:"container"`
	BlobName  string `json:"blobName,omitempty"`
	// Outcome: linked, already-linked (linked to this blob before),
	// would-link (DryRun), or a failure: missing-file (no locator),
	// missing-blob (no blob, or for a locator that is not content-named no
	// upload recorded), unproven (the blob's content is not shown to be
	// the file's digest), failed (an error).
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	// ContentHash cross-checks the atom's ContentHash with the file's
	// digest (ContentHashMatches / ContentHashDiffers); never a failure.
	ContentHash string `json:"contentHash,omitempty"`
}

// Failed reports whether the row is a failure.
func (r LinkResult) Failed() bool {
	switch r.Outcome {
	case OutcomeLinked, OutcomeAlready, OutcomeWouldLink:
		return false
	}
	return true
}

// Link fills the Blob* columns of every atom whose blob exists and is
// proven to hold the atom's file. The locator decides which blob: a
// content-named locator names it (sha256-<its hex>); for any other, the
// receipt Upload wrote says which digest the file had. The proof is the
// Sha256 metadata our Upload writes only after hashing (or, with Rehash, a
// read of the blob), equal to that digest; ContentHash is compared and
// reported, never required. PayloadLocator stays, and the link is written
// only while the atom still has the locator it was proved for. Atoms it
// cannot link are listed with the reason, and the error counts them.
func (s *Service) Link(ctx context.Context, p LinkParams) ([]LinkResult, error) {
	var results []LinkResult
	failed := 0
	var first error
	var after int64
	for {
		atoms, err := s.cfg.Catalog.ListAtoms(ctx, catalog.AtomFilter{Modality: p.Modality, AfterID: after, Limit: pageSize})
		if err != nil {
			return results, fmt.Errorf("atoms: link: list atoms: %w", err)
		}
		for _, a := range atoms {
			after = a.ID
			r := s.linkOne(ctx, a, p)
			if r.Failed() {
				failed++
				if first == nil {
					first = fmt.Errorf("atom %d: %s: %s", r.AtomID, r.Outcome, r.Reason)
				}
				s.log.Warn("atom not linked", "atom", a.ID, "modality", a.Modality, "blob", r.BlobName, "outcome", r.Outcome, "reason", r.Reason)
			} else if r.Outcome != OutcomeAlready {
				s.log.Info("atom linked", "atom", a.ID, "modality", a.Modality, "blob", r.BlobName, "contentHash", r.ContentHash, "dryRun", p.DryRun)
			}
			results = append(results, r)
		}
		if len(atoms) < pageSize {
			break
		}
	}
	return results, errorsSummary("link", failed, len(results), first)
}

// linkedTo reports whether a is linked to a content-named blob of ours.
func (s *Service) linkedTo(a catalog.Atom) (string, bool) {
	if a.BlobURI == "" || a.BlobContainer != s.ContainerFor(a.Modality) {
		return "", false
	}
	h, err := location.ParseContentName(a.BlobName)
	return h, err == nil
}

// linkOne links one atom to its proven blob (or says why not).
func (s *Service) linkOne(ctx context.Context, a catalog.Atom, p LinkParams) LinkResult {
	container := s.ContainerFor(a.Modality)
	r := LinkResult{AtomID: a.ID, Modality: a.Modality, Locator: a.PayloadLocator, Container: container}
	want, fileSize, ok := s.contentOf(ctx, a, container, &r)
	if !ok {
		return r
	}
	name := location.ContentPrefix + want
	r.BlobName, r.ContentHash = name, contentHashCheck(a, want)
	if a.BlobURI != "" && a.BlobName == name && a.BlobContainer == container {
		// Linked before; whether the blob is still right is Verify's job.
		r.Outcome = OutcomeAlready
		return r
	}
	props, ok := s.prove(ctx, container, name, want, fileSize, p, &r)
	if !ok {
		return r
	}
	if p.DryRun {
		r.Outcome = OutcomeWouldLink
		return r
	}
	s.recordLink(ctx, a, container, name, props, &r)
	return r
}

// contentOf is the SHA-256 that names the atom's blob: its locator's when
// that is content-named, else the one its file's upload receipt records,
// with the file's size (-1 when unknown). Without one, r says why (or that
// the atom is linked already) and ok is false.
func (s *Service) contentOf(ctx context.Context, a catalog.Atom, container string, r *LinkResult) (want string, fileSize int64, ok bool) {
	if want, named := contentName(a.PayloadLocator); named {
		return want, -1, true
	}
	if a.PayloadLocator == "" {
		if !s.linkedAlready(a, r) {
			r.Outcome, r.Reason = OutcomeMissingFile, "no PayloadLocator: nothing names its file"
		}
		return "", 0, false
	}
	digest, size, err := s.readReceipt(ctx, container, a.PayloadLocator)
	switch {
	case errors.Is(err, blobstore.ErrNotFound):
		if !s.linkedAlready(a, r) {
			r.Outcome, r.Reason = OutcomeMissingBlob, "the locator is not content-named and no upload of its file is recorded: run atoms upload (it names the blob by the file's digest)"
		}
		return "", 0, false
	case err != nil:
		r.Outcome, r.Reason = OutcomeFailed, err.Error()
		return "", 0, false
	}
	return digest, size, true
}

// linkedAlready records in r that a is linked to a content-named blob of
// ours, when it is.
func (s *Service) linkedAlready(a catalog.Atom, r *LinkResult) bool {
	h, ok := s.linkedTo(a)
	if ok {
		r.BlobName, r.Outcome, r.ContentHash = a.BlobName, OutcomeAlready, contentHashCheck(a, h)
	}
	return ok
}

// prove reads the blob's properties and proves it holds want: by the
// metadata Offload's upload writes or, with Rehash, by reading it whole.
// When it cannot, r says why and ok is false.
func (s *Service) prove(ctx context.Context, container, name, want string, fileSize int64, p LinkParams, r *LinkResult) (props blobstore.Props, ok bool) {
	props, err := s.cfg.Blobs.Properties(ctx, container, name)
	switch {
	case errors.Is(err, blobstore.ErrNotFound):
		r.Outcome, r.Reason = OutcomeMissingBlob, fmt.Sprintf("no blob %s/%s: run atoms upload", container, name)
		return props, false
	case err != nil:
		r.Outcome, r.Reason = OutcomeFailed, err.Error()
		return props, false
	case fileSize >= 0 && props.Size != fileSize:
		r.Outcome, r.Reason = OutcomeUnproven, fmt.Sprintf("size mismatch: the upload recorded %d bytes for the file, the blob has %d: run atoms upload", fileSize, props.Size)
		return props, false
	case metaProves(props, want):
		return props, true
	case p.Rehash:
		return s.rehash(ctx, container, name, want, p.DryRun, r)
	}
	r.Outcome = OutcomeUnproven
	if got := props.Meta(MetaSha256); got != "" && got != want {
		r.Reason = fmt.Sprintf("sha256 mismatch: metadata Sha256 is %s", got)
	} else if got != "" {
		r.Reason = "size mismatch: metadata SizeBytes differs from the blob's size"
	} else {
		r.Reason = "no Sha256 metadata (uploaded by another tool): run with --rehash"
	}
	return props, false
}

// metaProves reports whether the blob's metadata says it holds want. Our
// upload writes both Sha256 and SizeBytes: a SizeBytes that disagrees with
// the blob's size means the blob was replaced while its metadata was kept.
func metaProves(props blobstore.Props, want string) bool {
	if props.Meta(MetaSha256) != want {
		return false
	}
	sz := props.Meta(MetaSizeBytes)
	return sz == "" || sz == strconv.FormatInt(props.Size, 10)
}

// rehash reads the whole blob and, unless dryRun, records its proof in its
// metadata. The download is pinned to the ETag it started with, and the
// metadata is written only over that ETag, so what gets linked is exactly
// what was hashed.
func (s *Service) rehash(ctx context.Context, container, name, want string, dryRun bool, r *LinkResult) (blobstore.Props, bool) {
	sum, n, props, err := s.hashBlob(ctx, container, name)
	if err != nil {
		r.Outcome, r.Reason = OutcomeFailed, err.Error()
		return props, false
	}
	if got := hex.EncodeToString(sum[:]); got != want {
		r.Outcome, r.Reason = OutcomeUnproven, fmt.Sprintf("sha256 mismatch: the blob hashes to %s", got)
		return props, false
	}
	props.Size = n
	if dryRun {
		return props, true
	}
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
	if _, err := s.cfg.Blobs.SetMetadata(ctx, container, name, md, props.ETag); err != nil {
		r.Outcome, r.Reason = OutcomeFailed, fmt.Sprintf("record Sha256 metadata (blob changed while hashed?): %v", err)
		return props, false
	}
	// The metadata write gave the blob a new ETag and LastModified.
	if props, err = s.cfg.Blobs.Properties(ctx, container, name); err != nil {
		r.Outcome, r.Reason = OutcomeFailed, err.Error()
		return props, false
	}
	if props.Meta(MetaSha256) != want || props.Size != n {
		r.Outcome, r.Reason = OutcomeFailed, "blob changed right after it was hashed"
		return props, false
	}
	return props, true
}

// recordLink writes the link into the atom's row, over the locator it was
// read with.
func (s *Service) recordLink(ctx context.Context, a catalog.Atom, container, name string, props blobstore.Props, r *LinkResult) {
	err := s.cfg.Catalog.LinkAtom(ctx, catalog.LinkAtomParams{
		ID:               a.ID,
		ExpectLocator:    a.PayloadLocator,
		BlobURI:          s.cfg.Blobs.URL(container, name),
		BlobContainer:    container,
		BlobName:         name,
		BlobSizeBytes:    props.Size,
		BlobETag:         props.ETag,
		BlobLastModified: props.LastModified,
	})
	switch {
	case errors.Is(err, catalog.ErrConflict):
		r.Outcome, r.Reason = OutcomeFailed, "the atom's PayloadLocator changed while it was linked: nothing recorded; run atoms link again"
	case err != nil:
		r.Outcome, r.Reason = OutcomeFailed, fmt.Sprintf("record link: %v", err)
	default:
		r.Outcome = OutcomeLinked
	}
}

// hashBlob streams the whole blob through SHA-256 in constant memory. It
// returns the digest, the bytes read and the properties the download saw.
func (s *Service) hashBlob(ctx context.Context, container, name string) ([32]byte, int64, blobstore.Props, error) {
	body, props, err := s.cfg.Blobs.Download(ctx, container, name, 0, 0)
	if err != nil {
		return [32]byte{}, 0, props, err
	}
	defer body.Close()
	cr := &countingReader{r: body}
	sum, err := hashStream(cr)
	if err != nil {
		return sum, cr.n, props, fmt.Errorf("atoms: read %s/%s: %w", container, name, err)
	}
	if cr.n != props.Size {
		return sum, cr.n, props, fmt.Errorf("atoms: read %s/%s: %d bytes, the blob has %d", container, name, cr.n, props.Size)
	}
	return sum, cr.n, props, nil
}
