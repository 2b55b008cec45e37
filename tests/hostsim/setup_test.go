package hostsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/azurite"
	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/tests/hostsim"
	"github.com/hartonomous/offload/tests/testenv"
)

var (
	binPath string
	az      *azurite.Server
)

// TestMain builds the real binary once and starts one Azurite; run as
// the stub worker (stubEnv set), it is that instead.
func TestMain(m *testing.M) {
	if os.Getenv(stubEnv) != "" {
		runStub()
		return
	}
	testenv.Main(m, func(bin string, server *azurite.Server) { binPath, az = bin, server })
}

// app is a Function App folder laid out as `make package` lays out dist/:
// host.json (the repository's, edited per test), one folder per function
// with its function.json, and the offload executable.
type app struct {
	t        *testing.T
	dir      string
	settings map[string]string
	n        int
}

var counter struct {
	sync.Mutex
	n int
}

// newApp lays the app out with host.json's values changed by edit (keys
// as dotted paths: "extensions.queues.visibilityTimeout").
func newApp(t *testing.T, edit map[string]any) *app {
	t.Helper()
	counter.Lock()
	counter.n++
	n := counter.n
	counter.Unlock()
	dir := t.TempDir()
	var host map[string]any
	readJSON(t, "../../host.json", &host)
	for path, v := range edit {
		setPath(host, strings.Split(path, "."), v)
	}
	writeJSON(t, filepath.Join(dir, "host.json"), host)
	fjs, err := filepath.Glob("../../functions/*/function.json")
	if err != nil || len(fjs) == 0 {
		t.Fatalf("function.json files: %v", err)
	}
	for _, f := range fjs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := filepath.Join(dir, filepath.Base(filepath.Dir(f)))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "function.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(binPath, filepath.Join(dir, "offload")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, ".offload"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &app{t: t, dir: dir, n: n, settings: map[string]string{
		"FUNCTIONS_WORKER_RUNTIME": "custom",
		"SQL_CONNECTION_STRING":    "sqlite:" + filepath.Join(dir, ".offload", "catalog.db"),
		"AzureWebJobsStorage":      az.ConnectionString,
		"TENSORS_CONTAINER":        fmt.Sprintf("tensors-sim-%d", n),
		"MODELS_CONTAINER":         fmt.Sprintf("models-sim-%d", n),
		"ATOMS_CONTAINER":          fmt.Sprintf("atoms-sim-%d", n),
		"SEGMENT_QUEUE":            fmt.Sprintf("segq-sim-%d", n),
		"VERIFY_SCHEDULE":          "0 0 0 1 1 *", // once a year: tests fire it
		"OUTBOX_SCHEDULE":          "0 0 0 1 1 *",
		"PUBLISH_QUEUES":           fmt.Sprintf("neo4j-sync-sim-%d", n),
		"FILES_ROOTS":              fmt.Sprintf(`D:\Models\=models-sim-%d`, n),
	}}
}

func setPath(m map[string]any, path []string, v any) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// cli runs an offload command in the app folder with its settings.
func (a *app) cli(args ...string) string {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Dir, cmd.Env = a.dir, testenv.Environ(a.settings)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		a.t.Fatalf("offload %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, &out, &errb)
	}
	return out.String()
}

// seedSmall applies the schema and seeds the small demo set.
func (a *app) seedSmall() {
	a.t.Helper()
	a.cli("schema", "apply")
	a.cli("demo", "seed", "--small", "--files-dir", filepath.Join(a.dir, ".offload", "models"))
}

// host is a running simulator with the worker's output kept.
type host struct {
	*hostsim.Sim
	stdout, stderr *testenv.SyncBuffer
}

// start runs the simulator on the app; cfg's zero fields take the app's.
func (a *app) start(cfg hostsim.Config) (*host, error) {
	a.t.Helper()
	h := &host{stdout: &testenv.SyncBuffer{}, stderr: &testenv.SyncBuffer{}}
	cfg.AppDir = a.dir
	if cfg.Settings == nil {
		cfg.Settings = maps.Clone(a.settings)
	}
	cfg.Logf = a.t.Logf
	cfg.Stdout, cfg.Stderr = h.stdout, h.stderr
	sim, err := hostsim.Start(context.Background(), cfg)
	if sim == nil {
		a.t.Logf("worker stdout:\n%s\nworker stderr:\n%s", h.stdout, h.stderr)
		return nil, err
	}
	h.Sim = sim
	a.t.Cleanup(func() {
		sim.Close()
		if a.t.Failed() {
			a.t.Logf("worker stdout:\n%s\nworker stderr:\n%s", tail(h.stdout.String()), tail(h.stderr.String()))
		}
	})
	return h, err
}

func (a *app) mustStart(cfg hostsim.Config) *host {
	a.t.Helper()
	h, err := a.start(cfg)
	if err != nil {
		a.t.Fatal(err)
	}
	return h
}

func tail(s string) string {
	if len(s) > 20000 {
		return "…" + s[len(s)-20000:]
	}
	return s
}

// do sends a request to the host's own endpoint (not the worker).
func (h *host) do(t *testing.T, method, path string, body []byte, chunked bool) (int, []byte) {
	t.Helper()
	var r io.Reader = bytes.NewReader(body)
	if chunked {
		r = io.MultiReader(r)
	}
	req, err := http.NewRequest(method, h.URL()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if chunked {
		req.ContentLength = -1
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// status is SegmentStatus through the host: segments by state.
func (h *host) status(t *testing.T) (map[string]int64, int64) {
	t.Helper()
	code, body := h.do(t, "GET", "/api/segments/status", nil, false)
	if code != http.StatusOK {
		t.Fatalf("SegmentStatus: %d %s", code, body)
	}
	var st struct {
		Totals map[string]struct{ Segments int64 } `json:"totals"`
		Total  struct{ Segments int64 }            `json:"total"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("SegmentStatus: %v: %s", err, body)
	}
	out := map[string]int64{}
	for k, v := range st.Totals {
		out[k] = v.Segments
	}
	return out, st.Total.Segments
}

// eventually polls cond every 200 ms until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// gate is a TCP endpoint that accepts connections and says nothing until
// it is opened (a paused serverless database, a storage account behind a
// stuck network), then forwards them, the held ones included, to target.
type gate struct {
	ln     net.Listener
	target string
	open   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	conns  []net.Conn
}

func newGate(t *testing.T, target string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, target: target, open: make(chan struct{})}
	t.Cleanup(g.close)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.mu.Lock()
			g.conns = append(g.conns, c)
			g.mu.Unlock()
			go g.serve(c)
		}
	}()
	return g
}

func (g *gate) port() int { return g.ln.Addr().(*net.TCPAddr).Port }

func (g *gate) serve(c net.Conn) {
	<-g.open
	if g.target == "" {
		return
	}
	up, err := net.Dial("tcp", g.target)
	if err != nil {
		c.Close()
		return
	}
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

// Open lets the connections through.
func (g *gate) Open() { g.once.Do(func() { close(g.open) }) }

func (g *gate) close() {
	g.ln.Close()
	g.mu.Lock()
	for _, c := range g.conns {
		c.Close()
	}
	g.mu.Unlock()
	g.Open()
}

// slowBlobs is a proxy in front of Azurite's blob service that lets
// perAttempt blocks be staged, then holds the next block until its caller
// gives up (the invocation's deadline, or its worker's death), after which
// the next attempt may stage perAttempt more: a segment of more blocks
// than that cannot be migrated within one invocation, however fast or
// slow the machine is. staged receives after each block Azurite has
// accepted (a full channel drops the signal: nobody is counting).
func slowBlobs(t *testing.T, perAttempt int) (base string, staged <-chan struct{}) {
	t.Helper()
	target, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", az.BlobPort))
	var mu sync.Mutex
	left := perAttempt
	done := make(chan struct{}, 64)
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(target) },
		ErrorLog: log.New(io.Discard, "", 0)} // a cancelled stage is expected here
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPut || r.URL.Query().Get("comp") != "block" {
			rp.ServeHTTP(w, r)
			return
		}
		mu.Lock()
		pass := left > 0
		if pass {
			left--
		}
		mu.Unlock()
		if !pass {
			// Read the block first: only then does the server watch the
			// connection, and end the request's context when the caller
			// gives up. Then the attempt is over: the next gets its share.
			io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
			mu.Lock()
			left = perAttempt
			mu.Unlock()
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		rp.ServeHTTP(rec, r)
		if rec.status == http.StatusCreated {
			select {
			case done <- struct{}{}:
			default:
			}
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), done
}

// statusRecorder keeps the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// enqueueRaw puts body on queue as a producer would (base64, the host's
// messageEncoding).
func enqueueRaw(t *testing.T, queue string, body []byte) {
	t.Helper()
	b, err := broker.New(config.Storage{ConnectionString: az.ConnectionString}, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Ensure(ctx, queue); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(ctx, queue, body, 0); err != nil {
		t.Fatal(err)
	}
}
