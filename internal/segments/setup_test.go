package segments_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/azurite/azuritetest"
	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/catalogtest"
	"github.com/hartonomous/offload/internal/catalog/sqlite/sqlitetest"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/segments"
)

// az is the test binary's Azurite, started by the first test that needs it.
var az azuritetest.Shared

func TestMain(m *testing.M) { az.Main(m) }

type env struct {
	t      testing.TB
	ctx    context.Context
	cat    catalogtest.Catalog
	blobs  *blobstore.Client
	broker *broker.Client
	// reqs counts the blob requests of blobs (and so of svc).
	reqs      *blobstore.Requests
	svc       *segments.Service
	cfg       segments.Config
	container string
	queue     string
	layerID   int64
	modelID   int64
	next      int64 // next SegmentOrdinal
}

var uniq struct {
	sync.Mutex
	n int
}

// setup gives each test its own catalog, container and queue on the shared
// Azurite. Block size is small so that payloads of a few hundred KiB span
// many blocks.
func setup(t testing.TB, mutate ...func(*segments.Config)) *env {
	t.Helper()
	return setupOn(t, sqlitetest.Open(t), mutate...)
}

// setupOn is setup on a given catalog (schema applied, no rows).
func setupOn(t testing.TB, cat catalogtest.Catalog, mutate ...func(*segments.Config)) *env {
	t.Helper()
	ctx := context.Background()
	st := config.Storage{ConnectionString: az.Get(t).ConnectionString}
	reqs := &blobstore.Requests{}
	blobs, err := blobstore.New(st, blobstore.Options{Requests: reqs})
	if err != nil {
		t.Fatal(err)
	}
	br, err := broker.New(st, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	uniq.Lock()
	uniq.n++
	n := uniq.n
	uniq.Unlock()
	e := &env{t: t, ctx: ctx, cat: cat, blobs: blobs, reqs: reqs, broker: br}
	e.container = "tensors-" + itoa(int64(n))
	e.queue = "segq-" + itoa(int64(n))
	if err := blobs.EnsureContainer(ctx, e.container); err != nil {
		t.Fatal(err)
	}
	e.cfg = segments.Config{
		Catalog: cat, Blobs: blobs, Broker: br, Container: e.container, Queue: e.queue,
		BlockSize: 64 << 10, Concurrency: 3,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if testing.Verbose() {
		e.cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	for _, f := range mutate {
		f(&e.cfg)
	}
	if e.svc, err = segments.New(e.cfg); err != nil {
		t.Fatal(err)
	}
	e.modelID, err = cat.InsertModel(ctx, catalog.NewModel{Name: "test-model", Type: "llama"})
	if err != nil {
		t.Fatal(err)
	}
	e.layerID, err = cat.InsertLayer(ctx, catalog.NewLayer{ModelID: e.modelID, LayerIdx: 0, LayerName: "blk.0", QuantizationType: "Q4_K_M"})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// withService rebuilds the service with changed config (hooks).
func (e *env) withService(f func(*segments.Config)) *segments.Service {
	cfg := e.cfg
	f(&cfg)
	svc, err := segments.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return svc
}

// payload is deterministic content for size bytes.
func payload(seed, size int) []byte {
	b := make([]byte, size)
	x := uint32(seed*2654435761 + 1)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func (e *env) addSegment(data []byte) int64 {
	e.t.Helper()
	id, err := e.cat.InsertSegment(e.ctx, catalog.NewSegment{LayerID: e.layerID, SegmentOrdinal: e.next,
		QuantizationType: "Q4_K_M", Payload: bytes.NewReader(data), Size: int64(len(data))})
	if err != nil {
		e.t.Fatal(err)
	}
	e.next++
	return id
}

func (e *env) segment(id int64) catalog.Segment {
	e.t.Helper()
	s, err := e.cat.GetSegment(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// blobBytes downloads a segment's blob whole (test payloads are small).
func (e *env) blobBytes(id int64) ([]byte, blobstore.Props) {
	e.t.Helper()
	rc, p, err := e.blobs.Download(e.ctx, e.container, segments.BlobName(e.segment(id)), 0, 0)
	if err != nil {
		e.t.Fatalf("download segment %d: %v", id, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		e.t.Fatal(err)
	}
	return b, p
}

// assertMigrated checks the row and blob against the source bytes.
func (e *env) assertMigrated(id int64, src []byte) catalog.Segment {
	e.t.Helper()
	seg := e.segment(id)
	want := sha256.Sum256(src)
	if seg.Sha256 != hex.EncodeToString(want[:]) {
		e.t.Fatalf("segment %d: row sha256 %q, source %x", id, seg.Sha256, want)
	}
	if seg.State != catalog.StateMigrated && seg.State != catalog.StateVerified {
		e.t.Fatalf("segment %d: state %s", id, seg.State)
	}
	got, props := e.blobBytes(id)
	if !bytes.Equal(got, src) {
		e.t.Fatalf("segment %d: blob content differs from source (%d vs %d bytes)", id, len(got), len(src))
	}
	if props.ETag != seg.BlobETag || seg.BlobSizeBytes != int64(len(src)) {
		e.t.Fatalf("segment %d: row etag/size %s/%d, blob %s/%d", id, seg.BlobETag, seg.BlobSizeBytes, props.ETag, props.Size)
	}
	if props.Meta("Sha256") != seg.Sha256 {
		e.t.Fatalf("segment %d: blob metadata Sha256 %q, row %q", id, props.Meta("Sha256"), seg.Sha256)
	}
	if string(e.payloadFromCatalog(id)) != string(src) {
		e.t.Fatalf("segment %d: RawPayload was modified by migration", id)
	}
	return seg
}

func (e *env) payloadFromCatalog(id int64) []byte {
	e.t.Helper()
	pr, err := e.cat.OpenPayload(e.ctx, catalog.OpenPayloadParams{ID: id, Chunk: 4096})
	if err != nil {
		e.t.Fatal(err)
	}
	defer pr.Close()
	b, err := io.ReadAll(pr)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// drain runs the local worker until the queue is empty.
func (e *env) drain(workers int) broker.Stats {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Minute)
	defer cancel()
	st, err := e.broker.Work(ctx, broker.WorkerConfig{Queue: e.queue, Workers: workers, MaxDequeueCount: 5,
		StopWhenEmpty: true, Logger: e.cfg.Logger, PollMin: 10 * time.Millisecond, PollMax: 50 * time.Millisecond},
		func(ctx context.Context, m broker.Message) error {
			_, err := e.svc.HandleMessage(ctx, m.Body)
			return err
		})
	if err != nil {
		e.t.Fatalf("drain: %v", err)
	}
	return st
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
