package load_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/azurite"
	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/files"
	"github.com/hartonomous/offload/tests/chaos"
	"github.com/hartonomous/offload/tests/load"
	"github.com/hartonomous/offload/tests/testenv"
)

var (
	binPath string
	az      *azurite.Server
)

// TestMain builds the real binary once and starts one Azurite.
func TestMain(m *testing.M) {
	testenv.Main(m, func(bin string, server *azurite.Server) { binPath, az = bin, server })
}

// memoryBound is what the handler's RSS must stay under whatever the number
// of clients: the upload blocks the Files API may hold at once (at most
// files.DefaultMaxUploads writes, each with blobstore.DefaultConcurrency+1
// blocks of blobstore.DefaultBlockSize), twice over because Go's collector
// lets the heap grow to twice its live data (GOGC=100), plus 64 MiB for the
// runtime, the code, and the connections' buffers.
const memoryBound = 2*files.DefaultMaxUploads*(blobstore.DefaultConcurrency+1)*blobstore.DefaultBlockSize + 64<<20

// TestFilesLoad puts 64 concurrent clients on the Files API of a real
// `offload` started as the Functions host starts it, for 10 s
// (OFFLOAD_LOAD_DURATION, e.g. 60s, for longer; `make chaos` does),
// then reports requests, failures, latency percentiles per operation and
// the handler's peak RSS, which must stay under memoryBound. It fails on any request that should have
// succeeded and did not, and on any read that does not return what was
// written. OFFLOAD_LOAD_REPORT=docs/RELIABILITY.md rewrites that file's
// load table.
func TestFilesLoad(t *testing.T) {
	duration := 10 * time.Second
	if v := os.Getenv("OFFLOAD_LOAD_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("OFFLOAD_LOAD_DURATION: %v", err)
		}
		duration = d
	}
	h := startHandler(t)
	rep, err := load.Run(context.Background(), load.Config{BaseURL: h.Base, FunctionKey: "load-test-key", Duration: duration})
	if err != nil {
		t.Fatal(err)
	}
	rep.PeakRSS, err = load.PeakRSS(h.Pid())
	if err != nil {
		t.Fatal(err)
	}
	rep.MemoryBound = memoryBound
	t.Logf("load report:\n%s", rep.Markdown())
	if rep.PeakRSS > memoryBound {
		t.Errorf("handler peak RSS %d MiB is over its bound of %d MiB", rep.PeakRSS>>20, memoryBound>>20)
	}
	for _, s := range rep.FailureSamples {
		t.Errorf("failure: %s", s)
	}
	if rep.Failures > 0 {
		t.Errorf("%d of %d requests failed", rep.Failures, rep.Requests)
	}
	for _, op := range load.Ops {
		if st := rep.Ops[op]; st == nil || st.Count == 0 {
			t.Errorf("no %s request was made", op)
		}
	}
	if rep.Ops[load.OpRead].Bytes == 0 {
		t.Errorf("no file was read back")
	}
	if err := h.Stop(t, 60*time.Second); err != nil {
		t.Errorf("handler exit after SIGTERM: %v", err)
	}
	if path := os.Getenv("OFFLOAD_LOAD_REPORT"); path != "" && !t.Failed() {
		if !filepath.IsAbs(path) {
			path = filepath.Join("..", "..", path) // relative to the module root
		}
		if err := chaos.ReplaceSection(path, "load", rep.Markdown()); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote the load table into %s", path)
	}
}

// startHandler runs `offload` the way the Functions host does, with
// settings of its own.
func startHandler(t *testing.T) *testenv.Handler {
	t.Helper()
	dir := t.TempDir()
	env := map[string]string{
		"SQL_CONNECTION_STRING": "sqlite:" + filepath.Join(dir, "catalog.db"),
		"AzureWebJobsStorage":   az.ConnectionString,
		"FILES_ROOTS":           `D:\Models\=models-load`,
		"MODELS_CONTAINER":      "models-load",
		"TENSORS_CONTAINER":     "tensors-load",
		"ATOMS_CONTAINER":       "atoms-load",
		"SEGMENT_QUEUE":         "segq-load",
		"VERIFY_SCHEDULE":       "0 */10 * * * *",
		"OUTBOX_SCHEDULE":       "*/10 * * * * *",
	}
	// The handler logs every request on stdout: keep only stderr.
	return testenv.StartHandler(t, testenv.HandlerConfig{Bin: binPath, Dir: dir, Env: env, DiscardStdout: true})
}
