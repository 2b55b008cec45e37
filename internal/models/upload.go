package models

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
)

// UploadParams name the files to upload; the sources add up.
type UploadParams struct {
	// Source is a directory whose every regular file is a model file named
	// sha256-<64 hex> (subdirectories are not entered).
	Source string
	// Files are explicit model files.
	Files []string
	// FromCatalog uploads the files named by the model atoms' PayloadLocator.
	FromCatalog bool
	// LocatorMap turns a PayloadLocator into a local path (default: the
	// locator itself; see MapLocators).
	LocatorMap func(locator string) (localPath string, err error)
	// DryRun checks names and the container, reads and writes nothing.
	DryRun bool
}

// FileResult is the outcome of one file.
type FileResult struct {
	Path     string
	BlobName string
	Size     int64
	Sha256   string // the hex the name claims (proven when uploaded/skipped)
	// Outcome: uploaded, resumed (uploaded, reusing blocks an interrupted
	// upload had staged), skipped (already uploaded and proven), failed,
	// would-upload (DryRun).
	Outcome       string
	BlocksStaged  int
	BlocksSkipped int
	Err           error
}

// uploadItem is one planned file.
type uploadItem struct {
	path   string
	want   string // hex the file must hash to
	size   int64
	statOK bool
	err    error // refused before any request
}

// Upload uploads every named file to the models container under its own
// name, one file at a time, each streamed with Concurrency blocks staged in
// parallel. It does all it can: each file gets a FileResult, and the error
// (non-nil when any file failed) summarises the failures.
//
// A file is committed only when the SHA-256 of the bytes read equals the hex
// in its name; otherwise nothing is committed and the result names the file.
// A blob already holding the proven content (metadata Sha256 and size equal)
// is skipped without reading the file. Uploads always resume: blocks an
// interrupted upload staged are not sent again.
func (s *Service) Upload(ctx context.Context, p UploadParams) ([]FileResult, error) {
	items, err := s.plan(ctx, p)
	if err != nil {
		return nil, err
	}
	tr := newTracker(s.cfg.Progress, s.cfg.Now)
	var total int64
	for _, it := range items {
		total += it.size
	}
	tr.start(len(items), total)
	defer tr.finish()

	if !p.DryRun && len(items) > 0 {
		if err := s.cfg.Blobs.EnsureContainer(ctx, s.cfg.Container); err != nil {
			return nil, fmt.Errorf("models: upload: %w", err)
		}
	}
	results := make([]FileResult, 0, len(items))
	failed := 0
	var first error
	for _, it := range items {
		r := s.uploadOne(ctx, it, p.DryRun, tr)
		if r.Err != nil {
			failed++
			if first == nil {
				first = r.Err
			}
			s.log.Warn("model upload failed", "file", r.Path, "err", r.Err)
		} else {
			s.log.Info("model file", "file", r.Path, "blob", r.BlobName, "outcome", r.Outcome,
				"bytes", r.Size, "blocksStaged", r.BlocksStaged, "blocksReused", r.BlocksSkipped)
		}
		results = append(results, r)
	}
	return results, errorsSummary("upload", failed, len(items), first)
}

// plan lists the files of p with their claimed digests and sizes. It fails
// only when a source cannot be listed at all; a bad file is an item with err.
func (s *Service) plan(ctx context.Context, p UploadParams) ([]uploadItem, error) {
	var items []uploadItem
	add := func(path, want string, err error) {
		it := uploadItem{path: path, want: want, err: err}
		if err == nil && want == "" {
			it.want, it.err = ParseName(filepath.Base(path))
			if it.err != nil {
				it.err = fmt.Errorf("models: %s: refused: %w (the name is the proof of the content)", path, it.err)
			}
		}
		if it.err == nil {
			if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
				it.size, it.statOK = fi.Size(), true
			}
		}
		items = append(items, it)
	}
	if p.Source != "" {
		entries, err := os.ReadDir(p.Source)
		if err != nil {
			return nil, fmt.Errorf("models: upload: source: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			add(filepath.Join(p.Source, e.Name()), "", nil)
		}
	}
	for _, f := range p.Files {
		add(f, "", nil)
	}
	if p.FromCatalog {
		m := p.LocatorMap
		if m == nil {
			m = localPath
		}
		var after int64
		for {
			atoms, err := s.cfg.Catalog.ListModelAtoms(ctx, catalog.AtomFilter{AfterID: after, Limit: pageSize})
			if err != nil {
				return nil, fmt.Errorf("models: upload: list model atoms: %w", err)
			}
			for _, a := range atoms {
				after = a.ID
				name, err := atomName(a)
				if err != nil {
					add(a.PayloadLocator, "", fmt.Errorf("models: %w", err))
					continue
				}
				if locatorBase(a.PayloadLocator) != name {
					add(a.PayloadLocator, "", fmt.Errorf("models: atom %d: PayloadLocator %q names another file than its ContentHash (%s)", a.ID, a.PayloadLocator, name))
					continue
				}
				path, err := m(a.PayloadLocator)
				if err != nil {
					add(a.PayloadLocator, "", fmt.Errorf("models: atom %d: %w", a.ID, err))
					continue
				}
				if filepath.Base(path) != name {
					add(path, "", fmt.Errorf("models: atom %d: locator map turned %q into %q, which is not named %s", a.ID, a.PayloadLocator, path, name))
					continue
				}
				add(path, name[len(namePrefix):], nil)
			}
			if len(atoms) < pageSize {
				break
			}
		}
	}
	return items, nil
}

// pageSize is how many atoms one catalog query returns.
const pageSize = 500

func (s *Service) uploadOne(ctx context.Context, it uploadItem, dryRun bool, tr *tracker) (r FileResult) {
	r = FileResult{Path: it.path, Size: it.size, Sha256: it.want}
	if it.want != "" {
		r.BlobName = namePrefix + it.want
	}
	var read int64
	defer func() { tr.fileDone(it.size - read) }()
	fail := func(err error) FileResult {
		r.Outcome, r.Err = OutcomeFailed, err
		return r
	}
	if it.err != nil {
		return fail(it.err)
	}
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("models: %s: %w", it.path, err))
	}

	// Already there and proven: no need to read the file (or even to have
	// it: a file released locally after its upload is still done).
	props, err := s.cfg.Blobs.Properties(ctx, s.cfg.Container, r.BlobName)
	switch {
	case err == nil:
		if props.Meta(MetaSha256) == it.want && (props.Size == it.size || !it.statOK) {
			r.Outcome, r.Size = OutcomeSkipped, props.Size
			return r
		}
	case errors.Is(err, blobstore.ErrNotFound):
	default:
		return fail(fmt.Errorf("models: %s: %w", it.path, err))
	}

	f, err := os.Open(it.path)
	if err != nil {
		return fail(fmt.Errorf("models: %w", err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fail(fmt.Errorf("models: %w", err))
	}
	if !fi.Mode().IsRegular() {
		return fail(fmt.Errorf("models: %s: not a regular file", it.path))
	}
	size := fi.Size()
	r.Size = size
	if dryRun {
		r.Outcome = OutcomeWouldUpload
		return r
	}

	cr := &countingReader{r: f, t: tr}
	var src io.Reader = cr
	if s.cfg.afterRead != nil {
		src = s.cfg.afterRead(it.path, src)
	}
	defer func() { read = cr.n }()
	res, err := s.cfg.Blobs.Upload(ctx, s.cfg.Container, r.BlobName, src, blobstore.UploadOptions{
		BlockSize:       s.blockSize(size),
		Concurrency:     s.cfg.Concurrency,
		ContentType:     "application/octet-stream",
		Metadata:        map[string]string{MetaSizeBytes: strconv.FormatInt(size, 10)},
		HashMetadataKey: MetaSha256,
		// No whole-file Content-MD5: the service does not check it on a
		// block list, the SHA-256 already proves the file, and on a 67 GB
		// file a second full hash pass costs as much CPU as the per-block
		// checksums (AzCopy leaves it off by default too, --put-md5).
		Resume: true,
		BeforeCommit: func(sum blobstore.Summary) error {
			got := hex.EncodeToString(sum.SHA256[:])
			if got != it.want {
				return fmt.Errorf("content hashes to sha256-%s, not the name it carries", got)
			}
			if sum.Size != size {
				return fmt.Errorf("read %d bytes, the file had %d when opened (changed while uploading?)", sum.Size, size)
			}
			return nil
		},
	})
	r.BlocksStaged, r.BlocksSkipped = res.BlocksStaged, res.BlocksSkipped
	if err != nil {
		return fail(fmt.Errorf("models: %s: %w", it.path, err))
	}
	r.Outcome = OutcomeUploaded
	if res.BlocksSkipped > 0 {
		r.Outcome = OutcomeResumed
	}
	return r
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
