// Package tests holds the end-to-end tests: the real offload binary, a real
// Azurite and the embedded catalog, driven the way the Functions host and
// sp_invoke_external_rest_endpoint drive it.
package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/azurite"
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

// world is one test's settings: its own catalog file, containers and queue.
type world struct {
	t   *testing.T
	dir string
	env map[string]string
}

var counter struct {
	sync.Mutex
	n int
}

func newWorld(t *testing.T) *world {
	t.Helper()
	counter.Lock()
	counter.n++
	n := counter.n
	counter.Unlock()
	dir := t.TempDir()
	w := &world{t: t, dir: dir, env: map[string]string{
		"SQL_CONNECTION_STRING": "sqlite:" + filepath.Join(dir, "catalog.db"),
		"AzureWebJobsStorage":   az.ConnectionString,
		"TENSORS_CONTAINER":     fmt.Sprintf("tensors-e2e-%d", n),
		"MODELS_CONTAINER":      fmt.Sprintf("models-e2e-%d", n),
		"ATOMS_CONTAINER":       fmt.Sprintf("atoms-e2e-%d", n),
		"SEGMENT_QUEUE":         fmt.Sprintf("segq-e2e-%d", n),
		"VERIFY_SCHEDULE":       "0 */10 * * * *",
		"OUTBOX_SCHEDULE":       "*/10 * * * * *",
		"PUBLISH_QUEUES":        fmt.Sprintf("neo4j-sync-%d", n),
		"FILES_ROOTS":           fmt.Sprintf(`D:\Models\=models-e2e-%d;D:\Repositories\Hartonomous\=repo-e2e-%d`, n, n),
	}}
	return w
}

// run executes the binary to completion (5 minutes at most) and returns
// stdout, stderr, exit code.
func (w *world) run(args ...string) (string, string, int) {
	w.t.Helper()
	return w.runBounded(5*time.Minute, args...)
}

// runBounded runs the binary with the world's settings, killed after d.
func (w *world) runBounded(d time.Duration, args ...string) (string, string, int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env, cmd.Dir = testenv.Environ(w.env), w.dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatalf("run %v: %v", args, err)
	}
	if ctx.Err() != nil {
		w.t.Errorf("offload %s: still running after %s", strings.Join(args, " "), d)
	}
	return out.String(), errb.String(), code
}

// mustRun runs and fails the test on a non-zero exit.
func (w *world) mustRun(args ...string) string {
	w.t.Helper()
	out, errs, code := w.run(args...)
	if code != 0 {
		w.t.Fatalf("offload %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// handler is a running `offload` started the way the Functions host starts
// it, with the request helper the tests use.
type handler struct{ *testenv.Handler }

// start launches the custom handler with the world's settings and waits
// until it answers, as the host does.
func (w *world) start() *handler {
	w.t.Helper()
	return &handler{testenv.StartHandler(w.t, testenv.HandlerConfig{Bin: binPath, Dir: w.dir, Env: w.env})}
}

// do sends a request and returns status and body.
func (h *handler) do(t *testing.T, method, path, contentType string, body []byte, headers ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, h.Base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
