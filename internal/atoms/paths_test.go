package atoms

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/files"
	"github.com/hartonomous/offload/internal/location"
)

// TestUploadedAtomsReadByTheirLocators: after upload, the Files API (which
// has no catalog) reads a content-named and a plain-named model file by
// the PayloadLocator T-SQL used, in any Windows spelling; a locator that
// no FILES_ROOTS root covers is uploaded all the same and reported.
func TestUploadedAtomsReadByTheirLocators(t *testing.T) {
	var index *location.Index
	e := setup(t, func(c *Config) {
		index = location.NewIndex(c.Blobs, c.AtomsContainer, c.ModelsContainer, c.AtomsContainer)
		c.Index = index
		roots, err := config.ParseRoots(`D:\Models\=` + c.ModelsContainer)
		if err != nil {
			t.Fatal(err)
		}
		c.Roots = roots
	})
	models, other := filepath.Join(e.dir, "models"), filepath.Join(e.dir, "elsewhere")
	for _, d := range []string{filepath.Join(models, "blobs"), filepath.Join(models, "Llama4"), other} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_, named := writeModel(t, filepath.Join(models, "blobs"), 1, 300<<10)
	plainPath, plain := writeModel(t, e.dir, 2, 100<<10)
	if err := os.Rename(plainPath, filepath.Join(models, "Llama4", "Model.GGUF")); err != nil {
		t.Fatal(err)
	}
	_, outside := writeModel(t, other, 3, 10<<10)
	idNamed := e.atom(named, `D:\Models\blobs\sha256-`+named)
	idPlain := e.atom(plain, `D:\Models\Llama4\Model.GGUF`)
	idOutside := e.atom(outside, `E:\Elsewhere\sha256-`+outside)

	p := UploadParams{FromCatalog: true, LocatorMap: MapLocators([]LocatorRoot{{`D:\Models\`, models}, {`E:\Elsewhere\`, other}})}
	res, err := e.svc.Upload(e.ctx, p)
	if err != nil {
		t.Fatalf("upload: %v %+v", err, res)
	}
	note := map[int64]string{}
	for _, r := range res {
		note[r.AtomID] = r.Files
	}
	if note[idNamed] != FilesReadable || note[idPlain] != FilesReadable || !strings.Contains(note[idOutside], "until a FILES_ROOTS root covers it") {
		t.Fatalf("files column: %v", note)
	}

	api := httptest.NewServer(filesAPI(e, index))
	defer api.Close()
	for path, sum := range map[string]string{
		`D:\Models\blobs\sha256-` + named:                  named,
		`d:/models/BLOBS/SHA256-` + strings.ToUpper(named): named,
		`D:\Models\Llama4\Model.GGUF`:                      plain,
		`d:\models\llama4\model.gguf`:                      plain,
	} {
		if got := readSum(t, api.URL, path); got != sum {
			t.Errorf("read %q: sha256 %q, want %q", path, got, sum)
		}
	}
	// A root covering the other locator is all it takes.
	roots, _ := config.ParseRoots(`D:\Models\=` + e.container + `;E:\Elsewhere\=` + e.container)
	wider := httptest.NewServer(echoFor(files.New(files.Config{Blobs: e.blobs, Roots: roots, Index: index})))
	defer wider.Close()
	if got := readSum(t, wider.URL, `E:\Elsewhere\sha256-`+outside); got != outside {
		t.Errorf("read outside locator once covered: %q", got)
	}

	// Again: everything skipped, nothing recorded twice.
	entry := func() string {
		props, err := e.blobs.Properties(e.ctx, index.Container(), "paths/d:/models/llama4/model.gguf")
		if err != nil {
			t.Fatal(err)
		}
		return props.ETag
	}
	etag := entry()
	res, err = e.svc.Upload(e.ctx, p)
	if err != nil || byOutcome(res, func(r FileResult) string { return r.Outcome })[OutcomeSkipped] != 3 {
		t.Fatalf("re-run: %v %+v", err, res)
	}
	if entry() != etag {
		t.Error("a re-run rewrote an index entry")
	}
}

func filesAPI(e *env, index *location.Index) http.Handler {
	return echoFor(files.New(files.Config{Blobs: e.blobs, Roots: e.cfg.Roots, Index: index}))
}

func echoFor(svc *files.Service) http.Handler {
	ec := echo.New()
	ec.POST("/api/files/:op", svc.Handler())
	return ec
}

// readSum reads path through the Files API and returns the SHA-256 of the
// content ("" when it does not exist).
func readSum(t *testing.T, url, path string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"path": path})
	resp, err := http.Post(url+"/api/files/read", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var got struct {
		Exists        bool
		ContentBase64 []byte
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &got) != nil {
		t.Fatalf("read %q: %d %s", path, resp.StatusCode, b)
	}
	if !got.Exists {
		return ""
	}
	sum := sha256.Sum256(got.ContentBase64)
	return hex.EncodeToString(sum[:])
}

// TestVerifyRecordsMissingPaths: an atom linked before its path was
// recorded (or whose entry was deleted) gets it back from the next
// verification, so Files reads it by its locator again.
func TestVerifyRecordsMissingPaths(t *testing.T) {
	var index *location.Index
	e := setup(t, func(c *Config) {
		index = location.NewIndex(c.Blobs, c.AtomsContainer, c.ModelsContainer, c.AtomsContainer)
		c.Index = index
	})
	path, sum := writeModel(t, e.dir, 7, 20<<10)
	id := e.atom(sum, path)
	if _, err := e.svc.Upload(e.ctx, UploadParams{FromCatalog: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Link(e.ctx, LinkParams{}); err != nil {
		t.Fatal(err)
	}
	name, err := location.EntryName(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.blobs.Delete(e.ctx, index.Container(), name, ""); err != nil {
		t.Fatal(err)
	}
	res, err := e.svc.Verify(e.ctx, VerifyParams{})
	if err != nil || len(res) != 1 || res[0].AtomID != id || res[0].Result != ResultOK {
		t.Fatalf("verify: %v %+v", err, res)
	}
	got, found, err := index.Lookup(e.ctx, path)
	if err != nil || !found || got.Container != e.cfg.ModelsContainer || got.Blob != "sha256-"+sum || got.Size != 20<<10 {
		t.Fatalf("entry after verify: %+v %v %v", got, found, err)
	}
}
