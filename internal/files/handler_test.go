package files

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/hostproto"
	"github.com/hartonomous/offload/internal/server"
)

func TestTextReads(t *testing.T) {
	h := setup(t)
	q := newTSQL(h)

	// A leading BOM is dropped, as File.ReadAllText did.
	h.put(h.models, "bom.txt", []byte("\xEF\xBB\xBFhello"))
	if s, err := q.readFileText(`D:\Models\bom.txt`); err != nil || s == nil || *s != "hello" {
		t.Fatalf("BOM file = %v, %v", s, err)
	}
	// The bytes keep it.
	if b, _ := q.readFileBytes(`D:\Models\bom.txt`); len(b) != 8 {
		t.Fatalf("bytes of the BOM file = %q", b)
	}

	// Over smallText the file is read twice (measure, then send): a long
	// text with every kind of escape, split runes across buffers.
	var sb strings.Builder
	for i := 0; sb.Len() < 3*smallText; i++ {
		sb.WriteString("line " + strconv.Itoa(i) + ": \"q\" \\ \t 模型😀 \u2028\x1f\n")
	}
	big := sb.String()
	if n, err := q.writeFileText(`D:\Models\big.txt`, big); err != nil || n != int64(len(big)) {
		t.Fatalf("write big text = %d, %v", n, err)
	}
	s, err := q.readFileText(`D:\Models\big.txt`)
	if err != nil || s == nil || *s != big {
		t.Fatalf("big text round trip failed: %v (got %d bytes, want %d)", err, lenp(s), len(big))
	}

	// Invalid UTF-8 far into a big file is still found before the 200.
	h.put(h.models, "late-bad.txt", []byte(strings.Repeat("a", 2*smallText)+"\xc3("))
	status, body := h.call("read", forJSON("path", `D:\Models\late-bad.txt`, "encoding", "utf8"))
	if status != 422 || !strings.Contains(string(body), CodeNotUTF8) {
		t.Fatalf("late invalid UTF-8: %d %s", status, body)
	}
}

func lenp(s *string) int {
	if s == nil {
		return -1
	}
	return len(*s)
}

func TestWriteConditions(t *testing.T) {
	h := setup(t)
	write := func(body string) (int, map[string]any) {
		t.Helper()
		status, b := h.call("write", body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("answer %d %q: %v", status, b, err)
		}
		return status, m
	}
	p := `D:\Models\cond.bin`

	// overwrite:false creates a new file, then refuses to replace it.
	st, m := write(forJSON("path", p, "overwrite", false, "contentBase64", []byte("one")))
	if st != 200 || m["bytesWritten"] != 3.0 {
		t.Fatalf("create: %d %v", st, m)
	}
	etag, _ := m["etag"].(string)
	if want := h.blobs.URL(h.models, "cond.bin"); m["blobUri"] != want || m["path"] != p || etag == "" {
		t.Fatalf("answer %v, want blobUri %s", m, want)
	}
	if st, m = write(forJSON("path", p, "overwrite", false, "contentBase64", []byte("two"))); st != 409 || m["code"] != CodeExists {
		t.Fatalf("overwrite:false on a file: %d %v", st, m)
	}
	// ifMatch with the current ETag replaces it; the old ETag then fails.
	if st, m = write(forJSON("path", p, "ifMatch", etag, "contentBase64", []byte("three"))); st != 200 {
		t.Fatalf("ifMatch current: %d %v", st, m)
	}
	if st, m = write(forJSON("path", p, "ifMatch", etag, "contentBase64", []byte("four"))); st != 412 || m["code"] != CodePrecondition {
		t.Fatalf("ifMatch stale: %d %v", st, m)
	}
	if got := h.get(h.models, "cond.bin"); string(got) != "three" {
		t.Fatalf("content = %q", got)
	}
	// overwrite:true (the default) replaces.
	if st, _ = write(forJSON("path", p, "overwrite", true, "contentBase64", []byte("five"))); st != 200 || string(h.get(h.models, "cond.bin")) != "five" {
		t.Fatalf("overwrite:true: %d", st)
	}
	// A delete with a stale ETag fails, with the current one succeeds.
	_, rb := h.call("read", forJSON("path", p))
	var cur struct{ ETag string }
	json.Unmarshal(rb, &cur)
	if st, b := h.call("delete", forJSON("path", p, "ifMatch", etag)); st != 412 {
		t.Fatalf("stale delete: %d %s", st, b)
	}
	if st, b := h.call("delete", forJSON("path", p, "ifMatch", cur.ETag)); st != 200 || !strings.Contains(string(b), `"deleted":true`) {
		t.Fatalf("delete: %d %s", st, b)
	}
}

// A client that sends the content before the path (a Go map marshals
// "contentBase64" before "path") is served through a spool file.
func TestWriteContentBeforePath(t *testing.T) {
	h := setup(t)
	content := strings.Repeat("spooled ", 100_000)
	body := `{"text":` + jsonString(content) + `,"path":"D:\\Models\\spooled.txt"}`
	raw := `{"contentBase64":"` + base64Std([]byte(content)) + `","overwrite":true,"path":"D:\\Models\\spooled.bin"}`
	for _, b := range []string{body, raw} {
		status, rb := h.call("write", b)
		if status != 200 {
			t.Fatalf("%d %s", status, rb)
		}
	}
	if got := h.get(h.models, "spooled.bin"); string(got) != content {
		t.Fatalf("spooled.bin: %d bytes", len(got))
	}
	if got := h.get(h.models, "spooled.txt"); string(got) != content {
		t.Fatalf("spooled.txt: %d bytes", len(got))
	}
}

// filesOnly provides the Files function alone.
type filesOnly struct{ e server.Entry }

func (p filesOnly) Functions() (server.Functions, error) { return server.Functions{"Files": p.e}, nil }
func (filesOnly) Wait(context.Context) error             { return nil }
func (filesOnly) Health() string                         { return "" }

// TestThroughServer mounts the handler in the real custom-handler server
// (its routes from functions/Files/function.json, body limit, error
// handler) rather than a bare Echo.
func TestThroughServer(t *testing.T) {
	h := setup(t)
	defs, err := hostproto.ReadDefinitions(os.DirFS("../../functions"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(server.Config{}, defs, filesOnly{server.Entry{HTTP: h.svc.Handler(), BodyLimit: server.FilesBodyLimit, BodyRequired: true}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	h.url = ts.URL
	q := newTSQL(h)
	if n, err := q.writeFileText(`D:\Models\via-server.txt`, "through the host's route"); err != nil || n != 24 {
		t.Fatalf("write = %d, %v", n, err)
	}
	if s, err := q.readFileText(`D:\Models\via-server.txt`); err != nil || s == nil || *s != "through the host's route" {
		t.Fatalf("read = %v, %v", s, err)
	}
	if status, body := h.call("rename", forJSON("path", `D:\Models\via-server.txt`)); status != 404 || !strings.Contains(string(body), CodeUnknownOp) {
		t.Fatalf("unknown op: %d %s", status, body)
	}
	if status, body := h.call("read", "", func(r *http.Request) { r.Method = http.MethodGet }); status != 405 {
		t.Fatalf("GET: %d %s", status, body)
	}
}

// TestMaxUploads: with one upload slot, a second write waits while the
// first streams its content; a second that gives up while waiting has
// written nothing, and once the first is done, the next write goes through.
func TestMaxUploads(t *testing.T) {
	h := setup(t, func(c *Config) { c.MaxUploads = 1 })
	pr, pw := io.Pipe()
	// Runs before the server's Close, which would wait for this request.
	t.Cleanup(func() { pw.CloseWithError(io.ErrClosedPipe) })
	first := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, h.url+"/api/files/write", pr)
		sqlHeaders(req)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("first write: %d %s", resp.StatusCode, b)
			}
		}
		first <- err
	}()
	// The path, then the first block of content: the handler is now inside
	// the upload, holding the only slot, waiting for more content.
	if _, err := io.WriteString(pw, `{"path":"D:\\Models\\first.bin","contentBase64":"`+base64Std(bytes.Repeat([]byte{1}, 3<<10))); err != nil {
		t.Fatal(err)
	}
	// The handler takes the slot after it has read the path; poll until it
	// has (never longer than the test's own deadline).
	for len(h.svc.uploads) == 0 {
		time.Sleep(5 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.url+"/api/files/write",
		strings.NewReader(`{"path":"D:\\Models\\second.bin","contentBase64":"AAAA"}`))
	sqlHeaders(req)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("second write answered %d %s while the only slot was taken", resp.StatusCode, b)
	}

	if _, err := io.WriteString(pw, `"}`); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if got := h.get(h.models, "first.bin"); len(got) != 3<<10 {
		t.Fatalf("first.bin: %d bytes", len(got))
	}
	// The handler of the abandoned request notices the client is gone and
	// gives up; it must not have written anything meanwhile.
	if got := h.get(h.models, "second.bin"); got != nil {
		t.Fatalf("second.bin was written (%d bytes) by a request that gave up", len(got))
	}
	if status, b := h.call("write", `{"path":"D:\\Models\\third.bin","contentBase64":"AAAA"}`); status != 200 {
		t.Fatalf("third write: %d %s", status, b)
	}
	if len(h.svc.uploads) != 0 {
		t.Fatalf("%d upload slot(s) still held after every write ended", len(h.svc.uploads))
	}
}
