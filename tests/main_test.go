// Package tests holds the end-to-end tests: the real offload binary, a real
// Azurite and the embedded catalog, driven the way the Functions host and
// sp_invoke_external_rest_endpoint drive it.
package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
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
)

var (
	binPath string
	az      *azurite.Server
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "offload-e2e-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "offload")
	build := exec.Command("go", "build", "-o", binPath, "../handler")
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
		"PUBLISH_QUEUES":        fmt.Sprintf("neo4j-sync-%d", n),
		"FILES_ROOTS":           fmt.Sprintf(`D:\Models\=models-e2e-%d;D:\Repositories\Hartonomous\=repo-e2e-%d`, n, n),
	}}
	return w
}

func (w *world) environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ours := w.env[k]; ours || k == "FUNCTIONS_CUSTOMHANDLER_PORT" {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range w.env {
		out = append(out, k+"="+v)
	}
	return out
}

// run executes the binary to completion and returns stdout, stderr, exit code.
func (w *world) run(args ...string) (string, string, int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env, cmd.Dir = w.environ(), w.dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatalf("run %v: %v", args, err)
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

// handler is a running `offload` started the way the Functions host starts it.
type handler struct {
	cmd    *exec.Cmd
	base   string
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start launches the custom handler with FUNCTIONS_CUSTOMHANDLER_PORT and no
// arguments, and polls GET / until it answers, as the host does.
func (w *world) start() *handler {
	w.t.Helper()
	port := freePort(w.t)
	cmd := exec.Command(binPath)
	cmd.Env = append(w.environ(), "FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port))
	cmd.Dir = w.dir
	h := &handler{cmd: cmd, base: "http://127.0.0.1:" + strconv.Itoa(port), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = h.stdout, h.stderr
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() { h.done <- cmd.Wait() }()
	w.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-h.done
		if w.t.Failed() {
			w.t.Logf("handler stdout:\n%s\nhandler stderr:\n%s", h.stdout, h.stderr)
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
			w.t.Fatalf("handler exited before ready: %v\nstderr:\n%s", err, h.stderr)
		default:
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("handler not ready after 30s\nstderr:\n%s", h.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// post sends a request and returns status and body.
func (h *handler) do(t *testing.T, method, path, contentType string, body []byte, headers ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, h.base+path, bytes.NewReader(body))
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

// stop sends SIGTERM and waits for a clean exit.
func (h *handler) stop(t *testing.T, within time.Duration) error {
	t.Helper()
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-h.done:
		h.done <- err // for Cleanup
		return err
	case <-time.After(within):
		t.Fatalf("handler did not exit within %s of SIGTERM", within)
		return nil
	}
}
