package atoms

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hartonomous/offload/internal/azurite/azuritetest"
	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/catalogtest"
	"github.com/hartonomous/offload/internal/catalog/sqlite/sqlitetest"
	"github.com/hartonomous/offload/internal/config"
)

// az is the test binary's Azurite, started by the first test that needs it.
var az azuritetest.Shared

func TestMain(m *testing.M) { az.Main(m) }

// testBlock is small so that files of a few hundred KiB span many blocks
// and exercise parallel staging.
const testBlock = 256 << 10

type env struct {
	t     testing.TB
	ctx   context.Context
	cat   catalogtest.Catalog
	blobs *blobstore.Client
	// reqs counts the blob requests of blobs (and so of svc).
	reqs      *blobstore.Requests
	svc       *Service
	cfg       Config
	container string
	dir       string // model files
}

var uniq struct {
	sync.Mutex
	n int
}

// opener gives a test a fresh catalog with the schema applied.
type opener func(testing.TB) catalogtest.Catalog

func openSQLite(tb testing.TB) catalogtest.Catalog { return sqlitetest.Open(tb) }

// setup gives each test its own embedded catalog, container and file
// directory on the shared Azurite.
func setup(t testing.TB, mutate ...func(*Config)) *env {
	t.Helper()
	return setupOn(t, openSQLite, mutate...)
}

// setupOn is setup on the catalog open returns.
func setupOn(t testing.TB, open opener, mutate ...func(*Config)) *env {
	t.Helper()
	srv := az.Get(t)
	ctx := context.Background()
	reqs := &blobstore.Requests{}
	blobs, err := blobstore.New(config.Storage{ConnectionString: srv.ConnectionString}, blobstore.Options{Requests: reqs})
	if err != nil {
		t.Fatal(err)
	}
	cat := open(t)
	uniq.Lock()
	uniq.n++
	n := uniq.n
	uniq.Unlock()
	e := &env{t: t, ctx: ctx, cat: cat, blobs: blobs, reqs: reqs, container: fmt.Sprintf("models-%d", n), dir: t.TempDir()}
	e.cfg = Config{
		Blobs: blobs, Catalog: cat, ModelsContainer: e.container, AtomsContainer: "atoms-" + e.container,
		BlockSize: testBlock, Concurrency: 3,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if testing.Verbose() {
		e.cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	for _, f := range mutate {
		f(&e.cfg)
	}
	e.svc = New(e.cfg)
	return e
}

// with returns a service with changed config (hooks) on the same env.
func (e *env) with(f func(*Config)) *Service {
	cfg := e.cfg
	f(&cfg)
	return New(cfg)
}

// content streams size deterministic pseudo-random bytes for seed.
func content(seed uint64, size int64) io.Reader {
	return io.LimitReader(&rngReader{r: rand.New(rand.NewPCG(seed, 0x6d6f64656c73))}, size)
}

// rngReader is an endless stream of the generator's bytes, the same
// whatever sizes it is read in (a byte read alone does not drop the other
// seven of its word).
type rngReader struct {
	r    *rand.Rand
	word uint64
	left int // bytes of word not read yet
}

func (g *rngReader) Read(p []byte) (int, error) {
	for i := range p {
		if g.left == 0 {
			g.word, g.left = g.r.Uint64(), 8
		}
		p[i] = byte(g.word >> (8 * (8 - g.left)))
		g.left--
	}
	return len(p), nil
}

// writeModel writes a model file of size bytes into dir, named by its
// SHA-256, streaming (bounded memory for benchmark sizes too).
func writeModel(tb testing.TB, dir string, seed uint64, size int64) (path, sum string) {
	tb.Helper()
	tmp, err := os.CreateTemp(dir, "partial-*")
	if err != nil {
		tb.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), content(seed, size)); err != nil {
		tb.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		tb.Fatal(err)
	}
	sum = hex.EncodeToString(h.Sum(nil))
	path = filepath.Join(dir, "sha256-"+sum)
	if err := os.Rename(tmp.Name(), path); err != nil {
		tb.Fatal(err)
	}
	return path, sum
}

// blobSum downloads a blob and returns its SHA-256 hex and size.
func (e *env) blobSum(name string) (string, int64) {
	e.t.Helper()
	body, _, err := e.blobs.Download(e.ctx, e.container, name, 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer body.Close()
	h := sha256.New()
	n, err := io.Copy(h, body)
	if err != nil {
		e.t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

// notCommitted fails the test unless no blob name exists.
func (e *env) notCommitted(name string) {
	e.t.Helper()
	if _, err := e.blobs.Properties(e.ctx, e.container, name); !errors.Is(err, blobstore.ErrNotFound) {
		e.t.Fatalf("blob %s: want ErrNotFound (nothing committed), got %v", name, err)
	}
}

// atom inserts a model atom for content sum (hex) located at locator.
func (e *env) atom(sum, locator string) int64 {
	e.t.Helper()
	b, err := hex.DecodeString(sum)
	if err != nil {
		e.t.Fatal(err)
	}
	id, err := e.cat.InsertAtom(e.ctx, catalog.NewAtom{ContentHash: b, Modality: "model", SourceType: "ollama-blob",
		PayloadLocator: locator, Metadata: `{"format":"gguf"}`})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// getAtom reads one atom back from the catalog.
func (e *env) getAtom(id int64) catalog.Atom {
	e.t.Helper()
	atoms, err := e.cat.ListAtoms(e.ctx, catalog.AtomFilter{AfterID: id - 1, Limit: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(atoms) != 1 || atoms[0].ID != id {
		e.t.Fatalf("atom %d not found: %+v", id, atoms)
	}
	return atoms[0]
}

// otherToolUpload writes a blob the way another tool would: no metadata.
func (e *env) otherToolUpload(name string, r io.Reader) blobstore.Result {
	e.t.Helper()
	if err := e.blobs.EnsureContainer(e.ctx, e.container); err != nil {
		e.t.Fatal(err)
	}
	res, err := e.blobs.Upload(e.ctx, e.container, name, r, blobstore.UploadOptions{BlockSize: testBlock})
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func byOutcome[T any](rs []T, key func(T) string) map[string]int {
	m := map[string]int{}
	for _, r := range rs {
		m[key(r)]++
	}
	return m
}

// sumOf is the SHA-256 hex of a file.
func sumOf(tb testing.TB, path string) string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
