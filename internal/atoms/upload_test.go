package atoms

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestUploadNamedBySha256(t *testing.T) {
	var mu sync.Mutex
	var calls []Progress
	e := setup(t, func(c *Config) {
		c.Progress = func(p Progress) { mu.Lock(); calls = append(calls, p); mu.Unlock() }
	})
	sizes := map[string]int64{}
	var total int64
	for i, size := range []int64{0, 1000, 5*testBlock + 123} {
		_, sum := writeModel(t, e.dir, uint64(i+1), size)
		sizes[sum] = size
		total += size
	}
	res, err := e.svc.Upload(e.ctx, UploadParams{Source: e.dir})
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if len(res) != 3 {
		t.Fatalf("%d results, want 3: %+v", len(res), res)
	}
	for _, r := range res {
		size := sizes[r.Sha256]
		if r.Outcome != OutcomeUploaded || r.Err != nil || r.Size != size || r.BlobName != "sha256-"+r.Sha256 {
			t.Errorf("result %+v", r)
		}
		if want := int((size + testBlock - 1) / testBlock); r.BlocksStaged != want || r.BlocksSkipped != 0 {
			t.Errorf("%s: staged %d skipped %d, want %d/0", r.BlobName, r.BlocksStaged, r.BlocksSkipped, want)
		}
		props, err := e.blobs.Properties(e.ctx, e.container, r.BlobName)
		if err != nil {
			t.Fatal(err)
		}
		if props.Meta(MetaSha256) != r.Sha256 || props.Meta(MetaSizeBytes) != strconv.FormatInt(size, 10) || props.Size != size {
			t.Errorf("%s: props size %d metadata %v", r.BlobName, props.Size, props.Metadata)
		}
		if got, n := e.blobSum(r.BlobName); got != r.Sha256 || n != size {
			t.Errorf("%s: blob hashes to %s (%d bytes)", r.BlobName, got, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) < 2 {
		t.Fatalf("progress called %d times", len(calls))
	}
	if p := calls[0]; p.Files != 3 || p.Bytes != total || p.FilesDone != 0 || p.Started.IsZero() {
		t.Errorf("first progress %+v, want totals 3 files %d bytes", p, total)
	}
	if p := calls[len(calls)-1]; p.FilesDone != 3 || p.BytesDone != total || p.Bytes != total {
		t.Errorf("last progress %+v, want all %d bytes done", p, total)
	}
}

func TestUploadRefusesWrongName(t *testing.T) {
	e := setup(t)
	// Content that does not hash to its name, spanning several blocks.
	_, other := writeModel(t, t.TempDir(), 7, 10)
	liar := filepath.Join(e.dir, "sha256-"+other)
	f, err := os.Create(liar)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, content(8, 3*testBlock+5)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// Not named by a digest at all.
	plain := filepath.Join(e.dir, "model.gguf")
	if err := os.WriteFile(plain, []byte("gguf"), 0o644); err != nil {
		t.Fatal(err)
	}
	upper := filepath.Join(e.dir, "sha256-"+strings.ToUpper(other))
	if err := os.WriteFile(upper, []byte("gguf"), 0o644); err != nil {
		t.Fatal(err)
	}

	res, err := e.svc.Upload(e.ctx, UploadParams{Files: []string{liar, plain, upper}})
	if err == nil {
		t.Fatal("upload succeeded")
	}
	if len(res) != 3 {
		t.Fatalf("results %+v", res)
	}
	// The two names that lie are unproven (an upper-case name is a name
	// like any other); the plain one is refused before it is read.
	for i, want := range []string{OutcomeUnproven, OutcomeFailed, OutcomeUnproven} {
		r := res[i]
		if r.Outcome != want || r.Err == nil || !strings.Contains(r.Err.Error(), r.Path) || r.Reason != r.Err.Error() {
			t.Errorf("result %+v: want %s naming the file", r, want)
		}
	}
	for _, i := range []int{0, 2} {
		if !strings.Contains(res[i].Err.Error(), "hashes to") || !strings.Contains(res[i].Err.Error(), "nothing committed") {
			t.Errorf("mismatch error: %v", res[i].Err)
		}
	}
	if res[1].BlocksStaged != 0 {
		t.Errorf("a refused name staged blocks: %+v", res[1])
	}
	e.notCommitted("sha256-" + other)
	e.notCommitted("model.gguf")
	// Nor under the digest the content really has.
	e.notCommitted("sha256-" + sumOf(t, liar))
}

func TestUploadResumesAfterKill(t *testing.T) {
	e := setup(t, func(c *Config) { c.Concurrency = 2 })
	const blocks = 12
	path, sum := writeModel(t, e.dir, 3, blocks*testBlock-100)
	name := "sha256-" + sum

	// The "kill": the context is cancelled once half the file was read, as
	// when the process dies mid-upload.
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	killer := e.with(func(c *Config) {
		c.afterRead = func(_ string, r io.Reader) io.Reader {
			return &cancelAfter{r: r, n: 6 * testBlock, cancel: cancel}
		}
	})
	res, err := killer.Upload(ctx, UploadParams{Files: []string{path}})
	if err == nil || res[0].Outcome != OutcomeFailed || !errors.Is(res[0].Err, context.Canceled) {
		t.Fatalf("killed upload: %v %+v", err, res)
	}
	e.notCommitted(name)

	e.reqs.Reset()
	res, err = e.svc.Upload(e.ctx, UploadParams{Files: []string{path}})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	r := res[0]
	if r.Outcome != OutcomeResumed || r.BlocksSkipped == 0 || r.BlocksStaged == 0 || r.BlocksStaged+r.BlocksSkipped != blocks {
		t.Fatalf("restart %+v: want resumed, some blocks reused, %d in all", r, blocks)
	}
	// The lookup saw the staged blocks, so they were listed (once) and only
	// the others sent.
	e.wantRequests("restart", map[string]int64{"CreateContainer": 1, "List": 1, "GetBlockList": 1,
		"PutBlock": int64(r.BlocksStaged), "PutBlockList": 1})
	if got, n := e.blobSum(name); got != sum || n != blocks*testBlock-100 {
		t.Fatalf("blob hashes to %s (%d bytes), want %s", got, n, sum)
	}
}

// cancelAfter cancels once n bytes were read (reads go on: the uploader
// notices the cancellation itself).
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n -= int64(n)
	if c.n <= 0 {
		c.cancel()
	}
	return n, err
}

func TestUploadSkipsExisting(t *testing.T) {
	e := setup(t)
	path, sum := writeModel(t, e.dir, 4, 2*testBlock+1)
	if _, err := e.svc.Upload(e.ctx, UploadParams{Files: []string{path}}); err != nil {
		t.Fatal(err)
	}
	props, err := e.blobs.Properties(e.ctx, e.container, "sha256-"+sum)
	if err != nil {
		t.Fatal(err)
	}
	reads := 0
	watch := e.with(func(c *Config) {
		c.afterRead = func(_ string, r io.Reader) io.Reader { reads++; return r }
	})
	res, err := watch.Upload(e.ctx, UploadParams{Files: []string{path}})
	if err != nil {
		t.Fatal(err)
	}
	if r := res[0]; r.Outcome != OutcomeSkipped || r.BlocksStaged != 0 || r.Size != 2*testBlock+1 {
		t.Fatalf("second upload %+v, want skipped", r)
	}
	if reads != 0 {
		t.Fatal("a skipped file was read")
	}
	again, _ := e.blobs.Properties(e.ctx, e.container, "sha256-"+sum)
	if again.ETag != props.ETag {
		t.Fatal("the blob was rewritten")
	}
	// The local copy may be gone once offloaded: still skipped.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	res, err = e.svc.Upload(e.ctx, UploadParams{Files: []string{path}})
	if err != nil || res[0].Outcome != OutcomeSkipped {
		t.Fatalf("upload of a removed, offloaded file: %v %+v", err, res)
	}
}

func TestUploadOverwritesUnprovenBlob(t *testing.T) {
	e := setup(t)
	path, sum := writeModel(t, e.dir, 5, testBlock+7)
	// Same name and size, wrong bytes, no metadata (another tool).
	e.otherToolUpload("sha256-"+sum, content(99, testBlock+7))
	res, err := e.svc.Upload(e.ctx, UploadParams{Files: []string{path}})
	if err != nil || res[0].Outcome != OutcomeUploaded {
		t.Fatalf("upload: %v %+v", err, res)
	}
	if got, _ := e.blobSum("sha256-" + sum); got != sum {
		t.Fatalf("blob hashes to %s", got)
	}
}

func TestUploadFromCatalog(t *testing.T) {
	e := setup(t)
	blobs := filepath.Join(e.dir, "blobs")
	if err := os.Mkdir(blobs, 0o755); err != nil {
		t.Fatal(err)
	}
	_, a := writeModel(t, blobs, 6, 3*testBlock)
	_, b := writeModel(t, blobs, 7, 10)
	_, c := writeModel(t, t.TempDir(), 8, 10)
	e.atom(a, `D:\Models\blobs\sha256-`+a)
	e.atom(b, `D:\Models\blobs\sha256-`+b)
	// The locator decides: this atom's ContentHash is another file's, its
	// locator names a's file: it shares a's upload.
	e.atom(c, `D:\Models\blobs\sha256-`+a)
	// A locator outside every root.
	_, d := writeModel(t, t.TempDir(), 9, 10)
	e.atom(d, `E:\elsewhere\sha256-`+d)
	// A file named with upper-case hex: its blob name is lower-case.
	pu, u := writeModel(t, blobs, 10, testBlock+1)
	if err := os.Rename(pu, filepath.Join(blobs, "sha256-"+strings.ToUpper(u))); err != nil {
		t.Fatal(err)
	}
	e.atom(u, `D:\Models\blobs\sha256-`+strings.ToUpper(u))

	m := MapLocators([]LocatorRoot{{Prefix: `d:\models\`, Dir: e.dir}})
	dry, err := e.svc.Upload(e.ctx, UploadParams{FromCatalog: true, LocatorMap: m, DryRun: true})
	if err == nil {
		t.Fatal("dry run: no error for the bad atoms")
	}
	if got := byOutcome(dry, func(r FileResult) string { return r.Outcome }); got[OutcomeWouldUpload] != 4 || got[OutcomeFailed] != 1 {
		t.Fatalf("dry run outcomes %v", got)
	}
	e.notCommitted("sha256-" + a)

	res, err := e.svc.Upload(e.ctx, UploadParams{FromCatalog: true, LocatorMap: m})
	if err == nil {
		t.Fatal("no error for the bad atoms")
	}
	if got := byOutcome(res, func(r FileResult) string { return r.Outcome }); got[OutcomeUploaded] != 4 || got[OutcomeFailed] != 1 {
		t.Fatalf("outcomes %v: %+v", got, res)
	}
	want := []string{ContentHashMatches, ContentHashMatches, ContentHashDiffers, "", ContentHashMatches}
	for i, r := range res {
		if r.ContentHash != want[i] || r.AtomID != int64(i+1) {
			t.Errorf("row %d: atom %d contentHash %q, want %q", i, r.AtomID, r.ContentHash, want[i])
		}
	}
	if res[0].BlocksStaged != res[2].BlocksStaged || res[2].BlobName != "sha256-"+a {
		t.Errorf("atoms on one file: %+v / %+v", res[0], res[2])
	}
	for _, s := range []string{a, b, u} {
		if got, _ := e.blobSum("sha256-" + s); got != s {
			t.Errorf("blob %s hashes to %s", s, got)
		}
	}
	e.notCommitted("sha256-" + c)
	e.notCommitted("sha256-" + d)
}
