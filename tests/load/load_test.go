package load_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/azurite"
	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/files"
	"github.com/hartonomous/offload/tests/chaos"
	"github.com/hartonomous/offload/tests/load"
)

var (
	binPath string
	az      *azurite.Server
)

// TestMain builds the real binary once and starts one Azurite.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "offload-load-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "offload")
	build := exec.Command("go", "build", "-o", binPath, "../../handler")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build offload:", err)
		os.Exit(1)
	}
	az, err = azurite.Start(context.Background(), azurite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "azurite:", err)
		os.Exit(1)
	}
	code := m.Run()
	az.Stop()
	os.RemoveAll(dir)
	os.Exit(code)
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
	rep, err := load.Run(context.Background(), load.Config{BaseURL: h.base, FunctionKey: "load-test-key", Duration: duration})
	if err != nil {
		t.Fatal(err)
	}
	rep.PeakRSS, err = load.PeakRSS(h.cmd.Process.Pid)
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
	h.stop(t)
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

type handler struct {
	cmd    *exec.Cmd
	base   string
	done   chan error
	stderr *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// startHandler runs `offload` with FUNCTIONS_CUSTOMHANDLER_PORT and no
// arguments, as the Functions host does, and waits until GET / answers.
func startHandler(t *testing.T) *handler {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	off := chaos.Offload{Bin: binPath, Dir: dir, Env: map[string]string{
		"SQL_CONNECTION_STRING": "sqlite:" + filepath.Join(dir, "catalog.db"),
		"AzureWebJobsStorage":   az.ConnectionString,
		"FILES_ROOTS":           `D:\Models\=models-load`,
		"MODELS_CONTAINER":      "models-load",
		"TENSORS_CONTAINER":     "tensors-load",
		"ATOMS_CONTAINER":       "atoms-load",
		"SEGMENT_QUEUE":         "segq-load",
	}}
	cmd := exec.Command(binPath)
	cmd.Env, cmd.Dir = off.Environ(), dir
	cmd.Env = append(cmd.Env, "FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port))
	h := &handler{cmd: cmd, base: "http://127.0.0.1:" + strconv.Itoa(port), done: make(chan error, 1), stderr: &syncBuffer{}}
	// The handler logs every request on stdout: keep only stderr.
	cmd.Stderr = h.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { h.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if err, ok := <-h.done; ok {
			h.done <- err
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(h.base + "/")
		if err == nil {
			resp.Body.Close()
			return h
		}
		select {
		case err := <-h.done:
			t.Fatalf("handler exited before ready: %v\n%s", err, h.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("handler not ready after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (h *handler) stop(t *testing.T) {
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-h.done:
		h.done <- err
		if err != nil {
			t.Errorf("handler exit after SIGTERM: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Errorf("handler did not exit within 60s of SIGTERM")
	}
}
