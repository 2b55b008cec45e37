package location

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hartonomous/offload/internal/blobstore"
)

// IndexPrefix starts the name of every index entry: an atom file that had
// the path P is recorded as IndexPrefix + Key(P) in the index container.
const IndexPrefix = "paths/"

// Metadata keys of an index entry. The entry's body is the path exactly as
// the atom spells it (its PayloadLocator), for a human browsing the
// container and to tell two spellings apart.
const (
	MetaFileContainer = "FileContainer" // container of the content blob
	MetaFileBlob      = "FileBlob"      // its name, sha256-<64 hex>
	MetaFileSha256    = "FileSha256"    // lowercase hex SHA-256 of the content
	MetaFileSizeBytes = "FileSizeBytes" // decimal size of the content
	MetaFileName      = "FileName"      // the path's last element, percent-encoded
)

// ErrPathTaken: another path that Windows treats as the same one (it
// differs only in case or separators) is already recorded with other
// content. Nothing was recorded.
var ErrPathTaken = errors.New("location: the path is already recorded for other content")

// Entry is one migrated atom file: the path it had and where its content is.
type Entry struct {
	// Locator is the path as the atom spells it (PayloadLocator): what
	// Record records. Lookup and List leave it empty (it is the entry's
	// body) and set Name.
	Locator string
	// Name is the path's last element as the atom spells it (set by Record
	// from Locator).
	Name string
	// Container and Blob name the content blob (Blob is sha256-<Sha256>).
	Container, Blob string
	Sha256          string
	Size            int64
	// LastModified is when the entry was recorded (set by Lookup and List).
	LastModified time.Time
}

// Index records where atom uploads put each file, by the path the file had,
// so that the Files API finds a migrated file by that path. It is the one
// naming rule both sides use: the uploads write it (Record), the Files API
// reads it (Lookup, List) and refuses to write or delete what the uploads
// own (Owns). It needs no catalog: the entries live in Blob Storage, beside
// the blobs they point to.
//
// Example, with ATOMS_CONTAINER "atoms" and MODELS_CONTAINER "models": the
// model atom whose PayloadLocator is D:\Models\blobs\sha256-9d50… is
// uploaded to models/sha256-9d50…, and recorded as
// atoms/paths/d:/models/blobs/sha256-9d50… (metadata FileContainer=models,
// FileBlob=sha256-9d50…). The image atom at D:\Data\Cats\Tom.PNG becomes
// atoms/sha256-<its digest>, recorded as atoms/paths/d:/data/cats/tom.png.
// Then, with FILES_ROOTS covering D:\Models\ and D:\Data\,
// POST api/files/read {"path":"d:/models/BLOBS/sha256-9d50…"} and
// {"path":"D:\\Data\\cats\\tom.png"} read those blobs.
type Index struct {
	blobs     *blobstore.Client
	container string
	stores    []string
}

// NewIndex returns the index kept in container (ATOMS_CONTAINER). stores
// are the containers the atom uploads write to (MODELS_CONTAINER,
// ATOMS_CONTAINER): see Owns.
func NewIndex(blobs *blobstore.Client, container string, stores ...string) *Index {
	return &Index{blobs: blobs, container: container, stores: stores}
}

// Container is the container holding the entries.
func (ix *Index) Container() string { return ix.container }

// EntryName is the blob name of the entry for path p.
func EntryName(p string) (string, error) {
	k, err := Key(p)
	if err != nil {
		return "", err
	}
	n := IndexPrefix + k
	if c := foldedLen(IndexPrefix, k); c > MaxNameLength {
		return "", refuse(CodeNameTooLong, p, "the path's index entry would be %d characters (blob names allow %d)", c, MaxNameLength)
	}
	if c := strings.Count(n, "/") + 1; c > MaxSegments {
		return "", refuse(CodeInvalidPath, p, "the path's index entry would have %d segments (blob names allow %d)", c, MaxSegments)
	}
	return n, nil
}

// Owns reports whether a blob belongs to the atom uploads: in one of their
// containers, a content-addressed blob (sha256-<64 lowercase hex>, which
// any number of atoms may share), an index entry (paths/…) or an upload
// receipt (locators/…). The Files API refuses to write or delete these and
// does not list them.
func (ix *Index) Owns(container, name string) bool {
	if ix == nil {
		return false
	}
	mine := false
	for _, c := range ix.stores {
		mine = mine || c == container
	}
	if !mine && container != ix.container {
		return false
	}
	if _, err := ParseContentName(name); err == nil && name == strings.ToLower(name) {
		return true
	}
	return strings.HasPrefix(name, IndexPrefix) || strings.HasPrefix(name, ReceiptPrefix) ||
		name+"/" == IndexPrefix || name+"/" == ReceiptPrefix
}

// Lookup returns the entry recorded for path p (in any spelling Windows
// treats as the same path). found is false when p has none, also when p
// cannot have one (a relative path) or the index container does not exist.
func (ix *Index) Lookup(ctx context.Context, p string) (e Entry, found bool, err error) {
	name, err := EntryName(p)
	if err != nil {
		return Entry{}, false, nil
	}
	props, err := ix.blobs.Properties(ctx, ix.container, name)
	if errors.Is(err, blobstore.ErrNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("location: look up %q: %w", p, err)
	}
	e, err = entryOf(name, props.Meta, props.LastModified)
	return e, err == nil, err
}

// Record records e under its Locator. It is idempotent: an entry already
// there with the same content (digest and size) is left as it is, in
// whichever spelling it was recorded. An entry with other content is
// replaced when it was recorded for exactly this Locator (the file
// changed, the latest upload wins); otherwise the error wraps
// ErrPathTaken and nothing is recorded: two files whose paths differ only
// in case (possible on a case-sensitive disk) cannot share one Windows
// path.
func (ix *Index) Record(ctx context.Context, e Entry) error {
	name, err := EntryName(e.Locator)
	if err != nil {
		return err
	}
	for range 3 { // a concurrent recorder changed it in between: look again
		props, err := ix.blobs.Properties(ctx, ix.container, name)
		opt := blobstore.UploadOptions{IfNoneMatchAny: true}
		switch {
		case errors.Is(err, blobstore.ErrNotFound):
		case err != nil:
			return fmt.Errorf("location: record %q: %w", e.Locator, err)
		default:
			old, err := entryOf(name, props.Meta, props.LastModified)
			if err == nil && old.Sha256 == e.Sha256 && old.Size == e.Size {
				return nil
			}
			if was, err := ix.recordedFor(ctx, name); err != nil {
				return err
			} else if was != e.Locator && old.Blob != "" {
				return fmt.Errorf("%w: %q is the same Windows path as %q, recorded with other content (%s/%s)", ErrPathTaken, e.Locator, was, old.Container, old.Blob)
			}
			opt = blobstore.UploadOptions{IfMatch: props.ETag}
		}
		err = ix.put(ctx, name, e, opt)
		if !errors.Is(err, blobstore.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("location: record %q: the entry kept changing", e.Locator)
}

// Ensure records e only where its path has no entry yet (an atom linked
// before the index existed, an entry deleted by hand); an entry already
// there, whatever it says, is left alone: the uploads decide what a path
// holds, Ensure only fills a gap.
func (ix *Index) Ensure(ctx context.Context, e Entry) error {
	name, err := EntryName(e.Locator)
	if err != nil {
		return err
	}
	_, err = ix.blobs.Properties(ctx, ix.container, name)
	switch {
	case err == nil:
		return nil
	case !errors.Is(err, blobstore.ErrNotFound):
		return fmt.Errorf("location: look up %q: %w", e.Locator, err)
	}
	if err := ix.put(ctx, name, e, blobstore.UploadOptions{IfNoneMatchAny: true}); !errors.Is(err, blobstore.ErrConflict) {
		return err
	}
	return nil
}

func (ix *Index) put(ctx context.Context, name string, e Entry, opt blobstore.UploadOptions) error {
	opt.ContentType = "text/plain; charset=utf-8"
	opt.Metadata = map[string]string{
		MetaFileContainer: e.Container,
		MetaFileBlob:      e.Blob,
		MetaFileSha256:    e.Sha256,
		MetaFileSizeBytes: strconv.FormatInt(e.Size, 10),
		MetaFileName:      url.PathEscape(e.Locator[strings.LastIndexAny(e.Locator, `/\`)+1:]),
	}
	_, err := ix.blobs.Upload(ctx, ix.container, name, strings.NewReader(e.Locator), opt)
	if err != nil && !errors.Is(err, blobstore.ErrConflict) {
		return fmt.Errorf("location: record %q: %w", e.Locator, err)
	}
	return err
}

// recordedFor returns the entry's body: the locator it was recorded for
// ("" when the entry is gone).
func (ix *Index) recordedFor(ctx context.Context, name string) (string, error) {
	body, _, err := ix.blobs.Download(ctx, ix.container, name, 0, 0)
	if errors.Is(err, blobstore.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("location: read entry %s: %w", name, err)
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("location: read entry %s: %w", name, err)
	}
	return string(b), nil
}

// entryOf reads an entry's metadata (the body, its Locator, is not read).
func entryOf(name string, meta func(string) string, lm time.Time) (Entry, error) {
	e := Entry{Container: meta(MetaFileContainer), Blob: meta(MetaFileBlob), LastModified: lm}
	sum, err := ParseContentName(e.Blob)
	size, serr := strconv.ParseInt(meta(MetaFileSizeBytes), 10, 64)
	if err != nil || sum != meta(MetaFileSha256) || e.Container == "" || serr != nil || size < 0 {
		return Entry{}, fmt.Errorf("location: index entry %s is malformed (metadata %s=%q %s=%q %s=%q)",
			name, MetaFileContainer, e.Container, MetaFileBlob, e.Blob, MetaFileSizeBytes, meta(MetaFileSizeBytes))
	}
	e.Sha256, e.Size = sum, size
	e.Name = name[strings.LastIndex(name, "/")+1:]
	if n, err := url.PathUnescape(meta(MetaFileName)); err == nil && Fold(n) == e.Name {
		e.Name = n
	}
	return e, nil
}

// Listed is one entry of an index listing: a file, or a directory that
// holds files. A file keeps its spelling (Entry.Name); a directory is
// named in folded form (Fold), as it is recorded.
type Listed struct {
	Name  string
	Dir   bool
	Entry Entry
}

// List calls fn for each file and directory one level under dir, in the
// order of their folded names, page by page (nothing is collected). A dir
// that cannot have entries lists nothing. An error from fn stops it and is
// returned.
func (ix *Index) List(ctx context.Context, dir string, fn func(Listed) error) error {
	name, err := EntryName(dir)
	if err != nil {
		return nil
	}
	prefix := name + "/"
	err = ix.blobs.List(ctx, ix.container, prefix, "/", func(it blobstore.Item) error {
		n := strings.TrimSuffix(strings.TrimPrefix(it.Name, prefix), "/")
		switch {
		case n == "":
			return nil
		case it.IsPrefix:
			return fn(Listed{Name: n, Dir: true})
		}
		e, err := entryOf(it.Name, it.Meta, it.LastModified)
		if err != nil {
			return err
		}
		return fn(Listed{Name: e.Name, Entry: e})
	})
	if errors.Is(err, blobstore.ErrNotFound) {
		return nil
	}
	return err
}

// HasFiles reports whether dir holds a migrated atom file, at any depth.
func (ix *Index) HasFiles(ctx context.Context, dir string) (bool, error) {
	name, err := EntryName(dir)
	if err != nil {
		return false, nil
	}
	found := false
	err = ix.blobs.List(ctx, ix.container, name+"/", "/", func(blobstore.Item) error {
		found = true
		return errStop
	})
	if err == nil || errors.Is(err, errStop) || errors.Is(err, blobstore.ErrNotFound) {
		return found, nil
	}
	return false, fmt.Errorf("location: list %q: %w", dir, err)
}

var errStop = errors.New("stop")
