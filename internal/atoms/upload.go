package atoms

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/location"
)

// UploadParams name the files to upload; the sources add up.
type UploadParams struct {
	// Source is a directory whose every regular file is a model file named
	// sha256-<64 hex> (subdirectories are not entered).
	Source string
	// Files are explicit model files, named sha256-<64 hex>.
	Files []string
	// FromCatalog uploads the files named by the atoms' PayloadLocator,
	// content-named or not: model atoms to ModelsContainer, the others to
	// AtomsContainer.
	FromCatalog bool
	// Modality keeps the atoms of one modality (catalog.ModalityModel);
	// "" uploads every modality.
	Modality string
	// LocatorMap turns a PayloadLocator into a local path (default: the
	// locator itself; see MapLocators).
	LocatorMap func(locator string) (localPath string, err error)
	// DryRun checks names and the container, reads and writes nothing.
	DryRun bool
}

// FileResult is the outcome for one atom (FromCatalog) or one file given
// by Source/Files (AtomID 0). Atoms on one file share its upload: they get
// one row each with the same file fields.
type FileResult struct {
	AtomID    int64  `json:"atomId,omitempty"`
	Modality  string `json:"modality,omitempty"`
	Locator   string `json:"payloadLocator,omitempty"`
	Path      string `json:"path"`
	Container string `json:"container"`
	BlobName  string `json:"blobName,omitempty"`
	Size      int64  `json:"sizeBytes"`
	// Sha256 is the file's digest: proven when uploaded/resumed/skipped,
	// otherwise what a content name claims ("" when not known).
	Sha256 string `json:"sha256,omitempty"`
	// Outcome: uploaded, resumed (uploaded, reusing blocks an interrupted
	// upload had staged), skipped (already uploaded and proven),
	// would-upload (DryRun), or a failure: missing-file, unproven (the
	// content does not hash to the name the file carries; nothing
	// committed), failed.
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	// ContentHash cross-checks the atom's ContentHash with the digest:
	// ContentHashMatches or ContentHashDiffers (never a failure); "" when
	// the digest is not known.
	ContentHash string `json:"contentHash,omitempty"`
	// Files says whether the Files API reads the atom's file by its
	// PayloadLocator: FilesReadable, or why not ("" for a file given by
	// name, or when nothing was uploaded).
	Files         string `json:"files,omitempty"`
	BlocksStaged  int    `json:"blocksStaged"`
	BlocksSkipped int    `json:"blocksReused"`
	Err           error  `json:"-"`
}

// Failed reports whether the row is a failure.
func (r FileResult) Failed() bool {
	return r.Outcome == OutcomeFailed || r.Outcome == OutcomeMissingFile || r.Outcome == OutcomeUnproven
}

// uploadItem is one planned file, its container and the atoms that name
// it.
type uploadItem struct {
	path      string
	container string
	// want is the hex the file must hash to: the content name's claim, or
	// "" for a file that is not content-named (named by its digest).
	want   string
	size   int64
	statOK bool
	atoms  []catalog.Atom
	// A refusal found before any request: outcome and err.
	outcome string
	err     error
}

// planned is how many bytes uploading the item reads: a file that is not
// content-named is read twice (hashed, then streamed).
func (it *uploadItem) planned() int64 {
	if it.err != nil {
		return 0
	}
	if it.want == "" {
		return 2 * it.size
	}
	return it.size
}

// errNameLies marks content that does not hash to the name it carries.
var errNameLies = errors.New("content does not hash to its name")

// Upload uploads every named file under sha256-<its digest>, to the
// container of its atoms' modality (files given by name: the models
// container), one file at a time, each streamed with Concurrency blocks
// staged in parallel. It does all it can: every file, and with FromCatalog
// every atom of the modality asked, gets a FileResult; the error (non-nil
// when any failed) summarises the failures.
//
// A content-named file is committed only when the SHA-256 of the bytes read
// equals the hex in its name; otherwise nothing is committed (outcome
// unproven). A file that is not content-named is hashed first, then
// streamed under the digest and committed only if the digest computed while
// streaming is the same (the file did not change in between); its atoms'
// locators get a receipt (receipt.go) so that Link finds the blob.
//
// Why hash first rather than stage under a temporary name and copy to the
// digest's name once known: the name is then fixed before a byte is sent,
// so an interrupted upload resumes under it (deterministic block ids), a
// re-run finds the blob already there and sends nothing, no staging blob is
// left to clean up after a crash, and no server-side Copy Blob (whose
// source authorisation under Entra ID or SAS, and asynchronous completion,
// are failure modes of their own) is needed. The price is a second
// sequential local read; the network, the slow part, carries the file once.
//
// A blob already holding the proven content (metadata Sha256 and size
// equal) is skipped without reading the file; for a file that is not
// content-named that needs its atoms already linked to such a blob (else
// the file must be hashed to know its name, and only the upload is saved).
//
// Per file the service sees one lookup (blobstore.Find: a List request
// that answers what a HEAD would and also shows blocks an interrupted
// upload staged), then the bytes: a fresh file is its blocks and a block
// list (one Put Blob up to a block), a resumed one also one listing of its
// staged blocks, and a re-run of an uploaded file the lookup alone.
func (s *Service) Upload(ctx context.Context, p UploadParams) ([]FileResult, error) {
	items, err := s.plan(ctx, p)
	if err != nil {
		return nil, err
	}
	tr := newTracker(s.cfg.Progress, s.cfg.Now)
	var total int64
	for _, it := range items {
		total += it.planned()
	}
	tr.start(len(items), total)
	defer tr.finish()

	if !p.DryRun && len(items) > 0 {
		containers := map[string]bool{}
		for _, it := range items {
			containers[it.container] = true
		}
		if err := s.ensureContainers(ctx, containers); err != nil {
			return nil, fmt.Errorf("atoms: upload: %w", err)
		}
	}
	var results []FileResult
	for _, it := range items {
		r := s.uploadOne(ctx, it, p.DryRun, tr)
		if r.Err != nil {
			r.Reason = r.Err.Error()
			s.log.Warn("atom file upload failed", "file", r.Path, "outcome", r.Outcome, "err", r.Err)
		} else {
			s.log.Info("atom file", "file", r.Path, "container", r.Container, "blob", r.BlobName, "outcome", r.Outcome,
				"bytes", r.Size, "blocksStaged", r.BlocksStaged, "blocksReused", r.BlocksSkipped)
		}
		if len(it.atoms) == 0 {
			results = append(results, r)
		}
		for _, a := range it.atoms {
			ar := r
			ar.AtomID, ar.Modality, ar.Locator = a.ID, a.Modality, a.PayloadLocator
			if !ar.Failed() && ar.Outcome != OutcomeWouldUpload {
				ar.ContentHash = contentHashCheck(a, r.Sha256)
			}
			results = append(results, ar)
		}
	}
	// Every atom in id order (a file shared by atoms was planned once).
	slices.SortStableFunc(results, func(a, b FileResult) int { return cmp.Compare(a.AtomID, b.AtomID) })
	s.recordPaths(ctx, results)
	failed := 0
	var first error
	for _, r := range results {
		if r.Failed() {
			failed++
			if first == nil {
				first = r.Err
			}
		}
	}
	return results, errorsSummary("upload", failed, len(results), first)
}

// plan lists the files of p with their claimed digests, sizes and atoms.
// It fails only when a source cannot be listed at all; a bad file or atom
// is an item with err.
func (s *Service) plan(ctx context.Context, p UploadParams) ([]*uploadItem, error) {
	var items []*uploadItem
	addFile := func(path string) {
		it := &uploadItem{path: path, container: s.cfg.ModelsContainer}
		want, err := location.ParseContentName(filepath.Base(path))
		if err != nil {
			it.outcome, it.err = OutcomeFailed, fmt.Errorf("atoms: %s: refused: %w (a file given by name must be named by its SHA-256; upload other files with --from-catalog)", path, err)
		} else {
			it.want = want
			it.stat()
		}
		items = append(items, it)
	}
	if p.Source != "" {
		entries, err := os.ReadDir(p.Source)
		if err != nil {
			return nil, fmt.Errorf("atoms: upload: source: %w", err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				addFile(filepath.Join(p.Source, e.Name()))
			}
		}
	}
	for _, f := range p.Files {
		addFile(f)
	}
	if !p.FromCatalog {
		return items, nil
	}
	return s.planCatalog(ctx, p, items)
}

// stat records the file's size, when it is a regular file.
func (it *uploadItem) stat() {
	if fi, err := os.Stat(it.path); err == nil && fi.Mode().IsRegular() {
		it.size, it.statOK = fi.Size(), true
	}
}

// planCatalog adds the files of the catalog's atoms (of p.Modality, or
// every modality) to items: one item per file and container, with every
// atom that names it.
func (s *Service) planCatalog(ctx context.Context, p UploadParams, items []*uploadItem) ([]*uploadItem, error) {
	byPath := map[string]*uploadItem{}
	var after int64
	for {
		atoms, err := s.cfg.Catalog.ListAtoms(ctx, catalog.AtomFilter{Modality: p.Modality, AfterID: after, Limit: pageSize})
		if err != nil {
			return nil, fmt.Errorf("atoms: upload: list atoms: %w", err)
		}
		for _, a := range atoms {
			after = a.ID
			if a.PayloadLocator == "" && a.BlobURI != "" {
				continue // linked with no file left to upload: link and verify see it
			}
			it := s.planAtom(a, p.LocatorMap)
			if it.err != nil {
				items = append(items, it)
				continue
			}
			key := it.container + "\x00" + filepath.Clean(it.path)
			if same, ok := byPath[key]; ok {
				same.atoms = append(same.atoms, a) // two atoms, one file: one upload
				continue
			}
			it.stat()
			byPath[key] = it
			items = append(items, it)
		}
		if len(atoms) < pageSize {
			return items, nil
		}
	}
}

// planAtom is the item of one atom's file, or its refusal (err set).
func (s *Service) planAtom(a catalog.Atom, m func(string) (string, error)) *uploadItem {
	it := &uploadItem{path: a.PayloadLocator, container: s.ContainerFor(a.Modality), atoms: []catalog.Atom{a}}
	refuse := func(outcome string, err error) *uploadItem {
		it.outcome, it.err = outcome, err
		return it
	}
	if a.PayloadLocator == "" {
		return refuse(OutcomeMissingFile, fmt.Errorf("atoms: atom %d: no PayloadLocator: nothing names its file", a.ID))
	}
	if m == nil {
		m = localPath
	}
	path, err := m(a.PayloadLocator)
	if err != nil {
		return refuse(OutcomeFailed, fmt.Errorf("atoms: atom %d: %w", a.ID, err))
	}
	want, named := contentName(a.PayloadLocator)
	if named {
		if got, err := location.ParseContentName(filepath.Base(path)); err != nil || got != want {
			return refuse(OutcomeFailed, fmt.Errorf("atoms: atom %d: locator map turned %q into %q, which is not named sha256-%s", a.ID, a.PayloadLocator, path, want))
		}
	}
	it.path, it.want = path, want
	return it
}

// pageSize is how many atoms one catalog query returns.
const pageSize = 500

// uploadOne uploads one file (or finds it already proven) and says what
// became of it.
func (s *Service) uploadOne(ctx context.Context, it *uploadItem, dryRun bool, tr *tracker) FileResult {
	u := &fileUpload{s: s, it: it, tr: tr, want: it.want,
		r: FileResult{Path: it.path, Container: it.container, Size: it.size, Sha256: it.want}}
	if it.want != "" {
		u.r.BlobName = location.ContentPrefix + it.want
	}
	defer func() { tr.fileDone(it.planned() - u.read) }()
	err := u.run(ctx, dryRun)
	if u.f != nil {
		u.f.Close()
	}
	var oe *outcomeError
	switch {
	case errors.As(err, &oe):
		u.r.Outcome, u.r.Err = oe.outcome, oe.err
	case err != nil:
		u.r.Outcome, u.r.Err = OutcomeFailed, err
	}
	return u.r
}

// outcomeError is a file's failure with an outcome other than
// OutcomeFailed.
type outcomeError struct {
	outcome string
	err     error
}

func (e *outcomeError) Error() string { return e.err.Error() }

// fileUpload is the state of one file's upload.
type fileUpload struct {
	s    *Service
	it   *uploadItem
	tr   *tracker
	r    FileResult
	f    *os.File // nil until open
	size int64    // the file's size when opened
	want string   // the content's SHA-256, once known
	// stored: something is under the blob's name (a blob, or blocks an
	// interrupted upload staged).
	stored bool
	read   int64 // bytes read from the file, for the tracker
}

func (u *fileUpload) run(ctx context.Context, dryRun bool) error {
	it := u.it
	if it.err != nil {
		return &outcomeError{it.outcome, it.err}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("atoms: %s: %w", it.path, err)
	}
	if done, err := u.skipIfProven(ctx); done || err != nil {
		return err
	}
	if err := u.open(); err != nil {
		return err
	}
	if dryRun {
		u.r.Outcome = OutcomeWouldUpload
		return nil
	}
	if it.want == "" {
		if done, err := u.nameByContent(ctx); done || err != nil {
			return err
		}
	}
	return u.send(ctx)
}

// skipIfProven is done when the blob is already there and proven: no need
// to read the file (or even to have it: a file released locally after its
// upload is still done). The lookup also tells whether an interrupted
// upload left blocks to resume.
func (u *fileUpload) skipIfProven(ctx context.Context) (done bool, err error) {
	it := u.it
	if it.want == "" {
		name, props, ok, err := u.s.linkedAndProven(ctx, it)
		if err != nil {
			return false, fmt.Errorf("atoms: %s: %w", it.path, err)
		}
		if ok {
			u.r.Outcome, u.r.BlobName, u.r.Sha256, u.r.Size = OutcomeSkipped, name, name[len(location.ContentPrefix):], props.Size
		}
		return ok, nil
	}
	blob, found, err := u.s.find(ctx, it.container, u.r.BlobName)
	if err != nil {
		return false, fmt.Errorf("atoms: %s: %w", it.path, err)
	}
	if found && blob.Meta(MetaSha256) == it.want && (blob.Size == it.size || !it.statOK) {
		u.r.Outcome, u.r.Size = OutcomeSkipped, blob.Size
		return true, nil
	}
	u.stored = found
	return false, nil
}

// open opens the file, which must be a regular one; its size now is the
// size the upload must send.
func (u *fileUpload) open() error {
	f, err := os.Open(u.it.path)
	if errors.Is(err, fs.ErrNotExist) {
		return &outcomeError{OutcomeMissingFile, fmt.Errorf("atoms: no file %s", u.it.path)}
	}
	if err != nil {
		return fmt.Errorf("atoms: %w", err)
	}
	u.f = f
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("atoms: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("atoms: %s: not a regular file", u.it.path)
	}
	u.size, u.r.Size = fi.Size(), fi.Size()
	return nil
}

// nameByContent hashes a file that is not content-named: the digest names
// its blob, so it comes first. It is done when the same content is already
// there (another file, an earlier run that stopped before its receipt):
// only the receipt is due.
func (u *fileUpload) nameByContent(ctx context.Context) (done bool, err error) {
	it := u.it
	cr := &countingReader{r: u.f, t: u.tr}
	sum, err := hashStream(cr)
	u.read += cr.n
	if err != nil {
		return false, fmt.Errorf("atoms: hash %s: %w", it.path, err)
	}
	if cr.n != u.size {
		return false, fmt.Errorf("atoms: %s: read %d bytes, the file had %d when opened (changed while hashing?)", it.path, cr.n, u.size)
	}
	if _, err := u.f.Seek(0, io.SeekStart); err != nil {
		return false, fmt.Errorf("atoms: %s: %w", it.path, err)
	}
	u.want = hex.EncodeToString(sum[:])
	u.r.BlobName, u.r.Sha256 = location.ContentPrefix+u.want, u.want
	blob, found, err := u.s.find(ctx, it.container, u.r.BlobName)
	if err != nil {
		return false, fmt.Errorf("atoms: %s: %w", it.path, err)
	}
	if found && blob.Meta(MetaSha256) == u.want && blob.Size == u.size {
		u.r.Outcome = OutcomeSkipped
		return true, u.s.receipts(ctx, it, u.want, u.size)
	}
	u.stored = found
	return false, nil
}

// send streams the file into its blob, which is committed only when what
// was read hashes to the name it goes under (checkCommit).
func (u *fileUpload) send(ctx context.Context) error {
	it := u.it
	cr := &countingReader{r: u.f, t: u.tr}
	var src io.Reader = cr
	if u.s.cfg.afterRead != nil {
		src = u.s.cfg.afterRead(it.path, src)
	}
	res, err := u.s.cfg.Blobs.Upload(ctx, it.container, u.r.BlobName, src, blobstore.UploadOptions{
		BlockSize:       u.s.blockSize(u.size),
		Concurrency:     u.s.cfg.Concurrency,
		ContentType:     "application/octet-stream",
		Metadata:        map[string]string{MetaSizeBytes: strconv.FormatInt(u.size, 10)},
		HashMetadataKey: MetaSha256,
		// No whole-file Content-MD5: the service does not check it on a
		// block list, the SHA-256 already proves the file, and on a 67 GB
		// file a second full hash pass costs as much CPU as the per-block
		// checksums (AzCopy leaves it off by default too, --put-md5).
		//
		// Resume only when Find saw something under the name: blocks an
		// interrupted upload staged are then listed and not sent again.
		// When nothing is there no listing is needed, and a file of one
		// block goes as one Put Blob. (Blocks another worker stages in
		// between are sent again: the same ids, the same bytes.)
		Resume:       u.stored,
		BeforeCommit: u.checkCommit,
	})
	u.read += cr.n
	u.r.BlocksStaged, u.r.BlocksSkipped = res.BlocksStaged, res.BlocksSkipped
	if errors.Is(err, errNameLies) {
		return &outcomeError{OutcomeUnproven, fmt.Errorf("atoms: %s: %w", it.path, err)}
	}
	if err != nil {
		return fmt.Errorf("atoms: %s: %w", it.path, err)
	}
	if it.want == "" {
		if err := u.s.receipts(ctx, it, u.want, u.size); err != nil {
			return err
		}
	}
	u.r.Outcome = OutcomeUploaded
	if res.BlocksSkipped > 0 {
		u.r.Outcome = OutcomeResumed
	}
	return nil
}

// checkCommit refuses to commit what does not hash to the blob's name or
// does not have the file's size.
func (u *fileUpload) checkCommit(sum blobstore.Summary) error {
	got := hex.EncodeToString(sum.SHA256[:])
	switch {
	case got != u.want && u.it.want != "":
		return fmt.Errorf("%w: content hashes to sha256-%s, not the name it carries: refused, nothing committed", errNameLies, got)
	case got != u.want:
		return fmt.Errorf("the file changed while it was uploaded (hashed as sha256-%s, streamed as sha256-%s)", u.want, got)
	case sum.Size != u.size:
		return fmt.Errorf("read %d bytes, the file had %d when opened (changed while uploading?)", sum.Size, u.size)
	}
	return nil
}

// find looks the blob name up (blobstore.Find): the blob, if committed,
// and whether anything at all (a blob, or blocks staged by an interrupted
// upload) is stored under it. A missing container holds nothing: a dry run
// does not create it, and an upload into it fails on its own.
func (s *Service) find(ctx context.Context, container, name string) (blobstore.Item, bool, error) {
	it, found, err := s.cfg.Blobs.Find(ctx, container, name)
	if errors.Is(err, blobstore.ErrNotFound) {
		return blobstore.Item{}, false, nil
	}
	return it, found, err
}

// linkedAndProven reports whether every atom of a file that is not
// content-named is already linked to one blob of ours that is still there
// with the size and proven digest recorded: then there is nothing to read.
func (s *Service) linkedAndProven(ctx context.Context, it *uploadItem) (string, blobstore.Props, bool, error) {
	var name string
	var size int64
	for _, a := range it.atoms {
		if a.BlobURI == "" || a.BlobContainer != it.container || (name != "" && a.BlobName != name) {
			return "", blobstore.Props{}, false, nil
		}
		if _, err := location.ParseContentName(a.BlobName); err != nil {
			return "", blobstore.Props{}, false, nil
		}
		name, size = a.BlobName, a.BlobSizeBytes
	}
	if name == "" {
		return "", blobstore.Props{}, false, nil
	}
	props, err := s.cfg.Blobs.Properties(ctx, it.container, name)
	if errors.Is(err, blobstore.ErrNotFound) {
		return "", props, false, nil
	}
	if err != nil {
		return "", props, false, err
	}
	ok := props.Meta(MetaSha256) == name[len(location.ContentPrefix):] && props.Size == size && (props.Size == it.size || !it.statOK)
	return name, props, ok, nil
}

// receipts records the digest of a file that is not content-named under
// each distinct locator of its atoms.
func (s *Service) receipts(ctx context.Context, it *uploadItem, digest string, size int64) error {
	done := map[string]bool{}
	for _, a := range it.atoms {
		if done[a.PayloadLocator] {
			continue
		}
		if err := s.writeReceipt(ctx, it.container, a.PayloadLocator, digest, size); err != nil {
			return fmt.Errorf("atoms: %s: uploaded as %s%s, but %w (run upload again)", it.path, location.ContentPrefix, digest, err)
		}
		done[a.PayloadLocator] = true
	}
	return nil
}

// hashStream is the SHA-256 of r, read in 1 MiB steps (constant memory).
func hashStream(r io.Reader) ([32]byte, error) {
	var sum [32]byte
	h := sha256.New()
	if _, err := io.CopyBuffer(h, r, make([]byte, 1<<20)); err != nil {
		return sum, err
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// blockSize is the configured block size, raised (to whole MiB) for a file
// that would otherwise need more than MaxBlocks blocks. It depends only on
// the file's size, so a resumed upload cuts the same blocks.
func (s *Service) blockSize(size int64) int64 {
	bs := s.cfg.BlockSize
	if need := (size + blobstore.MaxBlocks - 1) / blobstore.MaxBlocks; need > bs {
		bs = (need + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return bs
}
