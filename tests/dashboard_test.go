package tests

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
	_ "modernc.org/sqlite"

	"github.com/hartonomous/offload/internal/dashboard/dashboardtest"
	"github.com/hartonomous/offload/tests/testenv"
)

// hostileModel would run script if the page put it into the DOM as markup.
const hostileModel = `<img src=x onerror="document.title='owned'">llama4`

// movesWithTime is every value the page shows that depends on the clock:
// the snapshot's time, rates, ETAs and ages. The rest must be equal.
func movesWithTime(path string) bool {
	for _, s := range []string{"generatedAt", "throughput.", "etaSeconds", "AgeSeconds", "PerSec"} {
		if strings.Contains(path, s) {
			return true
		}
	}
	return false
}

// TestDashboardInBrowser: headless Chromium loads the page from `offload
// dashboard` in the middle of a migration, its script polls the live JSON, and with
// the catalog held still every number on the page equals the JSON and the
// catalog; a hostile model name renders as text; the function key the page
// was opened with appears nowhere in it. It saves a screenshot
// (OFFLOAD_SCREENSHOT names where to copy it; the README shows it).
func TestDashboardInBrowser(t *testing.T) {
	bin := testenv.Chromium(t)
	w := newWorld(t)
	ids := w.seedSmall()
	w.mustRun("segments", "enqueue")
	for _, id := range ids[:len(ids)/2] {
		w.mustRun("segments", "migrate", "--id", strconv.FormatInt(id, 10))
	}
	w.mustRun("segments", "verify")
	db, err := sql.Open("sqlite", filepath.Join(w.dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE Models SET ModelName = ? WHERE ModelId = 1`, hostileModel); err != nil {
		t.Fatal(err)
	}

	base := w.startDashboard()
	const key = "test-function-key-9d3f"
	page := base + "/api/dashboard?code=" + key
	dom := testenv.Headless(t, bin, page, "--dump-dom")
	data := getJSON(t, base+"/api/dashboard/data")

	doc, err := html.Parse(bytes.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}
	body := findElement(doc, "body")
	if live := attrOf(body, "data-live"); live == "" {
		t.Fatalf("the page's script never rendered live data:\n%.2000s", dom)
	}
	r := dashboardtest.Compare(doc, data, movesWithTime)
	for _, m := range r.Mismatches {
		t.Error(m)
	}
	if r.Bound < 50 {
		t.Fatalf("only %d values compared", r.Bound)
	}
	shown := false
	for _, tx := range r.Texts {
		shown = shown || strings.Contains(tx, hostileModel)
	}
	for _, el := range r.Elements {
		if el == "img" {
			t.Fatal("the hostile model name became an <img> element")
		}
	}
	if !shown || strings.Contains(string(dom), key) {
		t.Fatalf("hostile name shown as text: %v; function key in the page: %v", shown, strings.Contains(string(dom), key))
	}
	wantCatalog(t, db, data)

	shot := filepath.Join(t.TempDir(), "dashboard.png")
	testenv.Headless(t, bin, page, "--window-size=1280,1120", "--screenshot="+shot)
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot: %v", err)
	}
	if dst := os.Getenv("OFFLOAD_SCREENSHOT"); dst != "" {
		if err := os.WriteFile(dst, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// startDashboard runs `offload dashboard` on a free loopback port with the
// world's settings until the test ends, and returns its base URL once the
// page answers.
func (w *world) startDashboard() string {
	w.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		w.t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(binPath, "dashboard", "--addr", addr)
	cmd.Env, cmd.Dir = testenv.Environ(w.env), w.dir
	var out testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	w.t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(base + "/api/dashboard/data"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		select {
		case <-done:
			w.t.Fatalf("offload dashboard exited:\n%s", out.String())
		case <-time.After(100 * time.Millisecond): // polling a starting process: no event to wait on
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("offload dashboard not answering after 30s:\n%s", out.String())
		}
	}
}

// wantCatalog checks the JSON's per-model segment counts against the
// catalog itself.
func wantCatalog(t *testing.T, db *sql.DB, data any) {
	t.Helper()
	rows, err := db.Query(`
SELECT l.ModelId, coalesce(o.OffloadState, 'pending'), count(*)
FROM LayerTensorSegments AS s JOIN ModelLayers AS l ON l.LayerId = s.LayerId
LEFT JOIN OffloadSegments AS o ON o.LayerTensorSegmentId = s.LayerTensorSegmentId
GROUP BY l.ModelId, coalesce(o.OffloadState, 'pending')`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	want := map[string]float64{}
	for rows.Next() {
		var model int64
		var state string
		var n float64
		if err := rows.Scan(&model, &state, &n); err != nil {
			t.Fatal(err)
		}
		want[strconv.FormatInt(model, 10)+"/"+state] = n
	}
	got := map[string]float64{}
	models, _ := data.(map[string]any)["models"].([]any)
	for _, m := range models {
		m := m.(map[string]any)
		for _, s := range m["states"].([]any) {
			s := s.(map[string]any)
			if n := s["segments"].(float64); n > 0 {
				got[strconv.FormatFloat(m["modelId"].(float64), 'f', 0, 64)+"/"+s["state"].(string)] = n
			}
		}
	}
	if len(got) != len(want) {
		t.Fatalf("per model and state: JSON %v, catalog %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Fatalf("per model and state: JSON %v, catalog %v", got, want)
		}
	}
}

func getJSON(t *testing.T, url string) any {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return v
}

func findElement(n *html.Node, tag string) *html.Node {
	if n.Type == html.ElementNode && n.Data == tag {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := findElement(c, tag); f != nil {
			return f
		}
	}
	return nil
}

func attrOf(n *html.Node, key string) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
