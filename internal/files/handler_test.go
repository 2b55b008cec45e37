package files

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

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

// TestThroughServer mounts the handler in the real custom-handler server
// (its route table, body limit, error handler) rather than a bare Echo.
func TestThroughServer(t *testing.T) {
	h := setup(t)
	s := server.New(server.Config{}, server.Functions{Files: h.svc.Handler()})
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
