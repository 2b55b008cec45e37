package atoms

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/sqlite"
)

// atomHash inserts a model atom with its own ContentHash (the SHA-256 of
// seed text, not of any file) at locator.
func (e *env) atomHash(seed, locator string) int64 {
	e.t.Helper()
	h := sha256.Sum256([]byte(seed))
	id, err := e.cat.InsertAtom(e.ctx, catalog.NewAtom{ContentHash: h[:], Modality: "model", SourceType: "gguf",
		PayloadLocator: locator, Metadata: `{"format":"gguf"}`})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// writeFile writes size bytes of content(seed) at path and returns their
// SHA-256 hex.
func writeFile(tb testing.TB, path string, seed uint64, size int64) string {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(f, content(seed, size)); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return sumOf(tb, path)
}

func linkOutcomes(t *testing.T, res []LinkResult, want map[int64]string) {
	t.Helper()
	if len(res) != len(want) {
		t.Fatalf("%d link results, want %d: %+v", len(res), len(want), res)
	}
	for _, r := range res {
		if r.Outcome != want[r.AtomID] {
			t.Errorf("atom %d: %s (%s), want %s", r.AtomID, r.Outcome, r.Reason, want[r.AtomID])
		}
	}
}

func verifyAll(t *testing.T, e *env, p VerifyParams, want string, n int) {
	t.Helper()
	res, err := e.svc.Verify(e.ctx, p)
	if err != nil || len(res) != n {
		t.Fatalf("verify %+v: %d results, %v: %+v", p, len(res), err, res)
	}
	for _, r := range res {
		if r.Result != want {
			t.Errorf("verify %+v: atom %d %s (%s), want %s", p, r.AtomID, r.Result, r.Reason, want)
		}
	}
}

// The locator cases run on the embedded catalog here and on a T-SQL
// engine in TestLocatorsOnTSQL.
var locatorCases = []struct {
	name string
	fn   func(*testing.T, opener)
}{
	{"ContentHashIsNotTheKey", testContentHashIsNotTheKey},
	{"LocatorNotContentNamed", testLocatorNotContentNamed},
	{"LocatorNotContentNamedResumes", testLocatorNotContentNamedResumes},
	{"LocatorFileChangesWhileUploaded", testLocatorFileChangesWhileUploaded},
	{"LocatorNameLies", testLocatorNameLies},
	{"UploadAccountsForEveryAtom", testUploadAccountsForEveryAtom},
}

func TestLocators(t *testing.T) {
	for _, c := range locatorCases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, openSQLite) })
	}
}

// Atoms whose ContentHash is not their file's digest (the case: it
// is the atom's own hash) are uploaded, linked and verified by their
// locator; the cross-check says which match and which differ, and a
// difference fails nothing.
func testContentHashIsNotTheKey(t *testing.T, open opener) {
	e := setupOn(t, open)
	blobs := filepath.Join(e.dir, "blobs")
	if err := os.Mkdir(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	_, a := writeModel(t, blobs, 21, 3*testBlock+5)
	_, b := writeModel(t, blobs, 22, 17)
	same := e.atom(a, `D:\Models\blobs\sha256-`+a)               // ContentHash = the file's digest
	differs := e.atomHash("atom-b", `D:\Models\blobs\sha256-`+b) // ContentHash = something else
	m := MapLocators([]LocatorRoot{{Prefix: `D:\Models\`, Dir: e.dir}})

	up, err := e.svc.Upload(e.ctx, UploadParams{FromCatalog: true, LocatorMap: m})
	if err != nil {
		t.Fatalf("upload: %v %+v", err, up)
	}
	for _, r := range up {
		want := map[int64]string{same: ContentHashMatches, differs: ContentHashDiffers}[r.AtomID]
		if r.Outcome != OutcomeUploaded || r.ContentHash != want {
			t.Errorf("upload row %+v, want uploaded, contentHash %q", r, want)
		}
	}
	res, err := e.svc.Link(e.ctx, LinkParams{})
	if err != nil {
		t.Fatalf("link: %v %+v", err, res)
	}
	linkOutcomes(t, res, map[int64]string{same: OutcomeLinked, differs: OutcomeLinked})
	for _, r := range res {
		want := map[int64]string{same: ContentHashMatches, differs: ContentHashDiffers}[r.AtomID]
		if r.ContentHash != want {
			t.Errorf("atom %d contentHash %q, want %q", r.AtomID, r.ContentHash, want)
		}
	}
	if at := e.getAtom(differs); at.BlobName != "sha256-"+b || at.BlobSizeBytes != 17 {
		t.Fatalf("atom linked to %q (%d bytes), want sha256-%s", at.BlobName, at.BlobSizeBytes, b)
	}
	verifyAll(t, e, VerifyParams{}, ResultOK, 2)
	verifyAll(t, e, VerifyParams{Rehash: true}, ResultOK, 2)

	// Linked twice: already-linked, still cross-checked.
	res, err = e.svc.Link(e.ctx, LinkParams{})
	if err != nil {
		t.Fatal(err)
	}
	linkOutcomes(t, res, map[int64]string{same: OutcomeAlready, differs: OutcomeAlready})
	if res[1].ContentHash != ContentHashDiffers {
		t.Errorf("already-linked row %+v", res[1])
	}
}

// A locator that is not content-named: the blob is named by the digest
// computed from the file, two atoms on one file get one blob, link finds it
// through the upload's receipt, verify proves it by the same digest, and a
// re-run reads nothing.
func testLocatorNotContentNamed(t *testing.T, open opener) {
	e := setupOn(t, open)
	const size = 4*testBlock + 99
	sum := writeFile(t, filepath.Join(e.dir, "llama4", "model.gguf"), 31, size)
	one := e.atomHash("llama4-a", `D:\Models\llama4\model.gguf`)
	two := e.atomHash("llama4-b", `D:\Models\llama4\model.gguf`)
	// Another spelling of the same file (Windows paths ignore case).
	three := e.atomHash("llama4-c", `d:\models\llama4\model.gguf`)
	m := MapLocators([]LocatorRoot{{Prefix: `D:\Models\`, Dir: e.dir}})

	// Before any upload, link says what to do.
	res, err := e.svc.Link(e.ctx, LinkParams{})
	if err == nil {
		t.Fatal("link before upload succeeded")
	}
	linkOutcomes(t, res, map[int64]string{one: OutcomeMissingBlob, two: OutcomeMissingBlob, three: OutcomeMissingBlob})
	if !strings.Contains(res[0].Reason, "run atoms upload") {
		t.Errorf("reason %q", res[0].Reason)
	}

	up, err := e.svc.Upload(e.ctx, UploadParams{FromCatalog: true, LocatorMap: m})
	if err != nil {
		t.Fatalf("upload: %v %+v", err, up)
	}
	if len(up) != 3 {
		t.Fatalf("%d rows, want one per atom: %+v", len(up), up)
	}
	for _, r := range up {
		if r.Outcome != OutcomeUploaded || r.BlobName != "sha256-"+sum || r.Sha256 != sum || r.Size != size || r.ContentHash != ContentHashDiffers {
			t.Errorf("row %+v, want uploaded as sha256-%s", r, sum)
		}
	}
	if up[0].BlocksStaged != 5 {
		t.Errorf("the shared file was sent %d blocks, want 5 (once)", up[0].BlocksStaged)
	}
	if got, n := e.blobSum("sha256-" + sum); got != sum || n != size {
		t.Fatalf("blob hashes to %s (%d bytes)", got, n)
	}
	props, err := e.blobs.Properties(e.ctx, e.container, "sha256-"+sum)
	if err != nil || props.Meta(MetaSha256) != sum {
		t.Fatalf("blob metadata %v, %v", props.Metadata, err)
	}
	// No other blob but the receipts.
	var names []string
	if err := e.blobs.List(e.ctx, e.container, "", "", func(it blobstore.Item) error { names = append(names, it.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	wantNames := map[string]bool{"sha256-" + sum: true, ReceiptName(`D:\Models\llama4\model.gguf`): true, ReceiptName(`d:\models\llama4\model.gguf`): true}
	if len(names) != len(wantNames) {
		t.Fatalf("container holds %v, want %v", names, wantNames)
	}
	for _, n := range names {
		if !wantNames[n] {
			t.Fatalf("unexpected blob %s", n)
		}
	}

	res, err = e.svc.Link(e.ctx, LinkParams{})
	if err != nil {
		t.Fatalf("link: %v %+v", err, res)
	}
	linkOutcomes(t, res, map[int64]string{one: OutcomeLinked, two: OutcomeLinked, three: OutcomeLinked})
	for _, id := range []int64{one, two, three} {
		if a := e.getAtom(id); a.BlobName != "sha256-"+sum || a.BlobETag != props.ETag || a.BlobSizeBytes != size ||
			!strings.EqualFold(a.PayloadLocator, `D:\Models\llama4\model.gguf`) {
			t.Fatalf("atom %+v", a)
		}
	}
	verifyAll(t, e, VerifyParams{Rehash: true}, ResultOK, 3)

	// Re-run: linked and proven, so the file is not even opened (it may be
	// gone locally once offloaded).
	reads := 0
	watch := e.with(func(c *Config) {
		c.afterRead = func(_ string, r io.Reader) io.Reader { reads++; return r }
	})
	if err := os.Remove(filepath.Join(e.dir, "llama4", "model.gguf")); err != nil {
		t.Fatal(err)
	}
	again, err := watch.Upload(e.ctx, UploadParams{FromCatalog: true, LocatorMap: m})
	if err != nil {
		t.Fatalf("re-run: %v %+v", err, again)
	}
	for _, r := range again {
		if r.Outcome != OutcomeSkipped || r.BlobName != "sha256-"+sum {
			t.Errorf("re-run row %+v, want skipped", r)
		}
	}
	if reads != 0 {
		t.Fatal("a linked, proven file was streamed again")
	}
}

// Not content-named, uploaded but not yet linked: a re-run hashes the file
// to learn its name and sends nothing; an interrupted upload resumes under
// the digest's name.
func testLocatorNotContentNamedResumes(t *testing.T, open opener) {
	e := setupOn(t, open, func(c *Config) { c.Concurrency = 2 })
	const blocks = 10
	path := filepath.Join(e.dir, "qwen", "weights.bin")
	sum := writeFile(t, path, 41, blocks*testBlock-3)
	id := e.atomHash("qwen", `D:\Models\qwen\weights.bin`)
	m := MapLocators([]LocatorRoot{{Prefix: `D:\Models\`, Dir: e.dir}})

	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	killer := e.with(func(c *Config) {
		c.afterRead = func(_ string, r io.Reader) io.Reader { return &cancelAfter{r: r, n: 5 * testBlock, cancel: cancel} }
	})
	if res, err := killer.Upload(ctx, UploadParams{FromCatalog: true, LocatorMap: m}); err == nil || res[0].Outcome != OutcomeFailed {
		t.Fatalf("killed upload: %v %+v", err, res)
	}
	e.notCommitted("sha256-" + sum)
	e.notCommitted(ReceiptName(`D:\Models\qwen\weights.bin`))

	res, err := e.svc.Upload(e.ctx, UploadParams{FromCatalog: true, LocatorMap: m})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Outcome != OutcomeResumed || r.BlocksSkipped == 0 || r.BlocksStaged+r.BlocksSkipped != blocks || r.AtomID != id {
		t.Fatalf("restart %+v: want resumed under the digest's name", r)
	}
	props, _ := e.blobs.Properties(e.ctx, e.container, "sha256-"+sum)

	res, err = e.svc.Upload(e.ctx, UploadParams{FromCatalog: true, LocatorMap: m})
	if err != nil || res[0].Outcome != OutcomeSkipped || res[0].BlocksStaged != 0 {
		t.Fatalf("re-run before link: %v %+v", err, res)
	}
	if again, _ := e.blobs.Properties(e.ctx, e.container, "sha256-"+sum); again.ETag != props.ETag {
		t.Fatal("the blob was rewritten")
	}
	if res, err := e.svc.Link(e.ctx, LinkParams{}); err != nil || res[0].Outcome != OutcomeLinked {
		t.Fatalf("link: %v %+v", err, res)
	}
}

// A file whose content changes between the hash and the upload is refused:
// nothing committed, no receipt, nothing linked.
func testLocatorFileChangesWhileUploaded(t *testing.T, open opener) {
	e := setupOn(t, open)
	path := filepath.Join(e.dir, "phi", "model.gguf")
	sum := writeFile(t, path, 51, 2*testBlock+1)
	id := e.atomHash("phi", `D:\Models\phi\model.gguf`)
	m := MapLocators([]LocatorRoot{{Prefix: `D:\Models\`, Dir: e.dir}})
	swap := e.with(func(c *Config) {
		c.afterRead = func(_ string, r io.Reader) io.Reader { return content(52, 2*testBlock+1) }
	})
	res, err := swap.Upload(e.ctx, UploadParams{FromCatalog: true, LocatorMap: m})
	if err == nil || res[0].Outcome != OutcomeFailed || !strings.Contains(res[0].Reason, "changed while it was uploaded") {
		t.Fatalf("upload of a changing file: %v %+v", err, res)
	}
	e.notCommitted("sha256-" + sum)
	e.notCommitted(ReceiptName(`D:\Models\phi\model.gguf`))
	if res, err := e.svc.Link(e.ctx, LinkParams{}); err == nil || res[0].Outcome != OutcomeMissingBlob {
		t.Fatalf("link: %v %+v", err, res)
	}
	if a := e.getAtom(id); a.BlobURI != "" {
		t.Fatalf("linked: %+v", a)
	}
}

// A file whose name lies about its content (named sha256-X, hashing to Y),
// reached through an atom's locator: refused, nothing committed under
// either name, no receipt, nothing linked, and the commands fail.
func testLocatorNameLies(t *testing.T, open opener) {
	e := setupOn(t, open)
	_, x := writeModel(t, t.TempDir(), 61, 10) // a digest nobody's content here has
	liar := filepath.Join(e.dir, "blobs", "sha256-"+x)
	y := writeFile(t, liar, 62, 3*testBlock+3)
	id := e.atomHash("liar", `D:\Models\blobs\sha256-`+x)
	m := MapLocators([]LocatorRoot{{Prefix: `D:\Models\`, Dir: e.dir}})

	res, err := e.svc.Upload(e.ctx, UploadParams{FromCatalog: true, LocatorMap: m})
	if err == nil {
		t.Fatal("upload of a lying file succeeded")
	}
	if r := res[0]; r.Outcome != OutcomeUnproven || r.AtomID != id || !strings.Contains(r.Reason, "sha256-"+y) || r.ContentHash != "" {
		t.Fatalf("row %+v, want unproven naming the real digest", r)
	}
	e.notCommitted("sha256-" + x)
	e.notCommitted("sha256-" + y)
	e.notCommitted(ReceiptName(`D:\Models\blobs\sha256-` + x))

	lr, err := e.svc.Link(e.ctx, LinkParams{Rehash: true})
	if err == nil || lr[0].Outcome != OutcomeMissingBlob {
		t.Fatalf("link: %v %+v", err, lr)
	}
	if a := e.getAtom(id); a.BlobURI != "" || a.BlobName != "" {
		t.Fatalf("lying atom linked: %+v", a)
	}

	// Another tool put the lying bytes under the lying name: link refuses
	// even with a rehash.
	e.otherToolUpload("sha256-"+x, content(62, 3*testBlock+3))
	lr, err = e.svc.Link(e.ctx, LinkParams{Rehash: true})
	if err == nil || lr[0].Outcome != OutcomeUnproven || !strings.Contains(lr[0].Reason, y) {
		t.Fatalf("link of a lying blob: %v %+v", err, lr)
	}
	if a := e.getAtom(id); a.BlobURI != "" {
		t.Fatalf("lying atom linked: %+v", a)
	}
}

// Every atom accounted for: missing files, no locator, a locator outside
// every root each get their row and reason; the error counts them.
func testUploadAccountsForEveryAtom(t *testing.T, open opener) {
	e := setupOn(t, open)
	_, ok := writeModel(t, filepath.Join(e.dir), 71, 10)
	idOK := e.atom(ok, `D:\Models\sha256-`+ok)
	idGoneNamed := e.atomHash("gone-named", `D:\Models\sha256-`+strings.Repeat("ab", 32))
	idGone := e.atomHash("gone", `D:\Models\nowhere\model.gguf`)
	idNoLoc := e.atomHash("noloc", "")
	idOutside := e.atomHash("outside", `E:\Other\model.gguf`)
	m := MapLocators([]LocatorRoot{{Prefix: `D:\Models\`, Dir: e.dir}})

	res, err := e.svc.Upload(e.ctx, UploadParams{FromCatalog: true, LocatorMap: m})
	if err == nil || !strings.Contains(err.Error(), "4 of 5 failed") {
		t.Fatalf("upload error %v", err)
	}
	want := map[int64]string{idOK: OutcomeUploaded, idGoneNamed: OutcomeMissingFile, idGone: OutcomeMissingFile,
		idNoLoc: OutcomeMissingFile, idOutside: OutcomeFailed}
	if len(res) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(res), len(want), res)
	}
	for i, r := range res {
		if r.Outcome != want[r.AtomID] || (r.Outcome != OutcomeUploaded && r.Reason == "") {
			t.Errorf("atom %d: %s (%q), want %s with a reason", r.AtomID, r.Outcome, r.Reason, want[r.AtomID])
		}
		if i > 0 && res[i-1].AtomID >= r.AtomID {
			t.Errorf("rows not in atom order: %+v", res)
		}
	}
	lr, err := e.svc.Link(e.ctx, LinkParams{})
	if err == nil || !strings.Contains(err.Error(), "4 of 5 failed") {
		t.Fatalf("link error %v", err)
	}
	linkOutcomes(t, lr, map[int64]string{idOK: OutcomeLinked, idGoneNamed: OutcomeMissingBlob, idGone: OutcomeMissingBlob,
		idNoLoc: OutcomeMissingFile, idOutside: OutcomeMissingBlob})
}

// Verify follows the locator: an atom whose content-named locator was
// changed after it was linked is reported (locator), not passed.
func TestVerifyLocatorChanged(t *testing.T) {
	e := setup(t)
	ids, sums := e.linked(2, 100)
	db, ok := e.cat.(*sqlite.DB)
	if !ok {
		t.Skip("needs the embedded catalog")
	}
	moved := `D:\Models\blobs\sha256-` + strings.Repeat("cd", 32)
	if _, err := db.SQL().ExecContext(e.ctx, "UPDATE Atoms SET PayloadLocator = ? WHERE AtomId = ?", moved, ids[1]); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.Verify(e.ctx, VerifyParams{Rehash: true})
	if err != nil || len(res) != 2 {
		t.Fatalf("verify: %v %+v", err, res)
	}
	if res[0].Result != ResultOK || res[1].Result != ResultLocator || !strings.Contains(res[1].Reason, "atoms link") {
		t.Fatalf("verify %+v", res)
	}
	if a := e.getAtom(ids[1]); a.VerifyResult != ResultLocator || a.BlobName != "sha256-"+sums[1] {
		t.Fatalf("atom %+v", a)
	}
	// A link proved for the old locator is refused by the catalog.
	err = e.cat.LinkAtom(e.ctx, catalog.LinkAtomParams{ID: ids[1], ExpectLocator: "/old", BlobURI: "x"})
	if !errors.Is(err, catalog.ErrConflict) {
		t.Fatalf("stale link: %v", err)
	}
}
