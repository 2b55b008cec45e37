package files

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/location"
)

// TestHostileRequestsChangeNothing sends paths and bodies that must each be
// refused with a 4xx and {"error","code"}, and compares the whole storage
// account (every container, every blob committed or not, with its ETag)
// before and after.
func TestHostileRequestsChangeNothing(t *testing.T) {
	const limit = 1 << 20
	h := setup(t, func(c *Config) { c.MaxBodyBytes = limit })
	q := newTSQL(h)
	existing := []byte("the original content")
	if _, err := q.writeFileBytes(`D:\Models\existing.bin`, existing); err != nil {
		t.Fatal(err)
	}
	if _, err := q.writeFileText(`D:\Repositories\Hartonomous\readme.txt`, "repo"); err != nil {
		t.Fatal(err)
	}
	h.put(h.models, "latin1.txt", []byte("caf\xe9")) // not UTF-8
	_, rb := h.call("read", forJSON("path", `D:\Models\existing.bin`))
	var r struct{ ETag string }
	json.Unmarshal(rb, &r)
	if r.ETag == "" {
		t.Fatalf("no etag in %s", rb)
	}
	cases := hostileCases(r.ETag, limit)
	before := h.snapshot()
	for _, tc := range cases {
		status, body := h.call(tc.op, tc.body, tc.mod...)
		var e struct{ Error, Code string }
		if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
			t.Errorf("%s: answer %d %q is not {\"error\",\"code\"}", tc.name, status, body)
			continue
		}
		if status != tc.status || e.Code != tc.code {
			t.Errorf("%s: %d %s (%s), want %d %s", tc.name, status, e.Code, e.Error, tc.status, tc.code)
		}
	}
	after := h.snapshot()
	if !reflect.DeepEqual(before, after) {
		t.Errorf("storage changed:\nbefore %q\nafter  %q", before, after)
	}
	if got := h.get(h.models, "existing.bin"); !bytes.Equal(got, existing) {
		t.Errorf("existing.bin = %q", got)
	}
	if len(cases) < 25 {
		t.Fatalf("only %d hostile cases", len(cases))
	}
}

// hostileCase is a request the Files API must refuse (status, code) and
// change nothing for.
type hostileCase struct {
	name, op, body string
	mod            []func(*http.Request)
	status         int
	code           string
}

// hostileCases are the refusals TestHostileRequestsChangeNothing sends:
// the paths, then the bodies and requests; etag is existing.bin's, limit
// the handler's MaxBodyBytes.
func hostileCases(etag string, limit int) []hostileCase {
	valid := base64Std([]byte("new content"))
	return append(hostilePaths(valid), hostileBodies(valid, etag, limit)...)
}

// hostilePaths are paths the roots refuse.
func hostilePaths(valid string) []hostileCase {
	return []hostileCase{
		{"empty path", "write", forJSON("path", "", "contentBase64", valid), nil, 400, location.CodeEmptyPath},
		{"no path", "write", forJSON("contentBase64", valid), nil, 400, location.CodeEmptyPath},
		{"null path", "write", `{"path":null,"contentBase64":"` + valid + `"}`, nil, 400, location.CodeEmptyPath},
		{"read empty path", "read", forJSON("path", ""), nil, 400, location.CodeEmptyPath},
		{"dotdot", "write", forJSON("path", `D:\Models\..\Windows\win.ini`, "contentBase64", valid), nil, 400, location.CodeTraversal},
		{"dotdot overwrite sibling root", "write", forJSON("path", `D:\Models\..\Repositories\Hartonomous\readme.txt`, "text", "x"), nil, 400, location.CodeTraversal},
		{"percent dotdot", "write", forJSON("path", `D:\Models\%2e%2e\x`, "contentBase64", valid), nil, 400, location.CodeTraversal},
		{"percent DOTDOT", "write", forJSON("path", `D:\Models\%2E%2E\x`, "contentBase64", valid), nil, 400, location.CodeTraversal},
		{"mixed separators", "write", forJSON("path", `D:/Models\a/..\..\x`, "contentBase64", valid), nil, 400, location.CodeTraversal},
		{"dot only", "write", forJSON("path", `D:\Models\.\existing.bin`, "contentBase64", valid), nil, 400, location.CodeTraversal},
		{"dots and spaces", "write", forJSON("path", `D:\Models\. .\x`, "contentBase64", valid), nil, 400, location.CodeTraversal},
		{"delete traversal", "delete", forJSON("path", `D:\Models\..\Repositories\Hartonomous\readme.txt`), nil, 400, location.CodeTraversal},
		{"outside roots", "write", forJSON("path", `C:\Windows\System32\evil.dll`, "contentBase64", valid), nil, 400, location.CodeOutside},
		{"root lookalike", "write", forJSON("path", `D:\ModelsX\a`, "contentBase64", valid), nil, 400, location.CodeOutside},
		{"NUL", "write", forJSON("path", "D:\\Models\\a\x00.bin", "contentBase64", valid), nil, 400, location.CodeControlChar},
		{"newline", "write", forJSON("path", "D:\\Models\\a\nb", "contentBase64", valid), nil, 400, location.CodeControlChar},
		{"percent NUL", "write", forJSON("path", `D:\Models\a%00b`, "contentBase64", valid), nil, 400, location.CodeControlChar},
		{"device path", "write", forJSON("path", `\\?\D:\Models\a`, "contentBase64", valid), nil, 400, location.CodeDevicePath},
		{"device dot path", "write", forJSON("path", `\\.\D:\Models\a`, "contentBase64", valid), nil, 400, location.CodeDevicePath},
		{"name too long", "write", forJSON("path", `D:\Models\`+strings.Repeat("n", location.MaxNameLength+1), "contentBase64", valid), nil, 400, location.CodeNameTooLong},
		{"write the root", "write", forJSON("path", `D:\Models\`, "contentBase64", valid), nil, 400, location.CodePathIsRoot},
		{"delete the root", "delete", forJSON("path", `D:\Models`), nil, 400, location.CodePathIsRoot},
	}
}

// hostileBodies are bodies and requests the handler refuses.
func hostileBodies(valid, etag string, limit int) []hostileCase {
	big := `{"path":"D:\\Models\\big.bin","contentBase64":"` + strings.Repeat("QUJD", limit/4+10) + `"}`
	chunked := func(r *http.Request) {
		r.ContentLength = -1
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b)) // no length: sent chunked
	}
	header := func(k, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set(k, v) } }
	method := func(m string) func(*http.Request) { return func(r *http.Request) { r.Method = m } }

	return []hostileCase{
		{"bad base64 alphabet", "write", forJSON("path", `D:\Models\existing.bin`, "contentBase64", "QUJD@@@@"), nil, 400, CodeBadBase64},
		{"truncated base64", "write", forJSON("path", `D:\Models\new.bin`, "contentBase64", "QUJDRA"), nil, 400, CodeBadBase64},
		{"padding then data", "write", forJSON("path", `D:\Models\new.bin`, "contentBase64", "QQ==QUJD"), nil, 400, CodeBadBase64},
		{"url-safe base64", "write", forJSON("path", `D:\Models\new.bin`, "contentBase64", "-_-_"), nil, 400, CodeBadBase64},
		{"bad base64 at the end of a long content", "write", forJSON("path", `D:\Models\existing.bin`, "contentBase64", strings.Repeat("QUJD", 50000)+"*"), nil, 400, CodeBadBase64},
		{"bad base64 spooled (content before path)", "write", `{"contentBase64":"QUJD!","path":"D:\\Models\\new.bin"}`, nil, 400, CodeBadBase64},
		{"over the limit", "write", big, nil, 413, CodeTooLarge},
		{"over the limit, chunked", "write", big, []func(*http.Request){chunked}, 413, CodeTooLarge},
		{"malformed JSON", "write", `{"path":`, nil, 400, CodeBadJSON},
		{"content never closes", "write", `{"path":"D:\\Models\\new.bin","contentBase64":"QUJD`, nil, 400, CodeBadJSON},
		{"object never closes", "write", `{"path":"D:\\Models\\new.bin","contentBase64":"QUJD"`, nil, 400, CodeBadJSON},
		{"data after the object", "write", forJSON("path", `D:\Models\new.bin`, "contentBase64", valid) + ` {}`, nil, 400, CodeBadJSON},
		{"array body", "write", `[{"path":"D:\\Models\\new.bin"}]`, nil, 400, CodeBadJSON},
		{"number content", "write", `{"path":"D:\\Models\\new.bin","contentBase64":12}`, nil, 400, CodeBadJSON},
		{"number path", "write", `{"path":7,"contentBase64":"QUJD"}`, nil, 400, CodeBadJSON},
		{"bad escape", "write", `{"path":"D:\\Models\\new.bin","text":"a\x"}`, nil, 400, CodeBadJSON},
		{"lone surrogate", "write", `{"path":"D:\\Models\\new.bin","text":"\ud800"}`, nil, 400, CodeBadJSON},
		{"raw control character", "write", "{\"path\":\"D:\\\\Models\\\\new.bin\",\"text\":\"a\x01b\"}", nil, 400, CodeBadJSON},
		{"invalid UTF-8", "write", "{\"path\":\"D:\\\\Models\\\\new.bin\",\"text\":\"\xff\xfe\"}", nil, 400, CodeBadJSON},
		{"unknown field", "write", forJSON("path", `D:\Models\new.bin`, "contentBase64", valid, "mode", "append"), nil, 400, CodeUnknownField},
		{"unknown field first", "write", `{"overwirte":false,"path":"D:\\Models\\existing.bin","contentBase64":"QUJD"}`, nil, 400, CodeUnknownField},
		{"read unknown field", "read", forJSON("path", `D:\Models\existing.bin`, "offset", 3), nil, 400, CodeUnknownField},
		{"duplicate path", "write", `{"path":"D:\\Models\\new.bin","path":"D:\\Models\\existing.bin","contentBase64":"QUJD"}`, nil, 400, CodeDuplicateField},
		{"two contents", "write", forJSON("path", `D:\Models\new.bin`, "contentBase64", valid, "text", "x"), nil, 400, CodeDuplicateField},
		{"condition after content", "write", forJSON("path", `D:\Models\existing.bin`, "contentBase64", valid, "overwrite", false), nil, 400, CodeFieldOrder},
		{"no content", "write", forJSON("path", `D:\Models\new.bin`), nil, 400, CodeMissingContent},
		{"null content", "write", `{"path":"D:\\Models\\new.bin","contentBase64":null}`, nil, 400, CodeMissingContent},
		{"overwrite false on a file", "write", forJSON("path", `D:\Models\existing.bin`, "overwrite", false, "contentBase64", valid), nil, 409, CodeExists},
		{"stale ifMatch", "write", forJSON("path", `D:\Models\existing.bin`, "ifMatch", `"0x8D000000000000"`, "contentBase64", valid), nil, 412, CodePrecondition},
		{"ifMatch with overwrite false", "write", forJSON("path", `D:\Models\existing.bin`, "ifMatch", etag, "overwrite", false, "contentBase64", valid), nil, 400, CodeConflictingFields},
		{"ifMatch header injection", "write", forJSON("path", `D:\Models\existing.bin`, "ifMatch", "*\r\nx-ms-meta-a: b", "contentBase64", valid), nil, 400, CodeBadJSON},
		{"ifMatch header injection on delete", "delete", forJSON("path", `D:\Models\existing.bin`, "ifMatch", "*\nx: y"), nil, 400, CodeBadJSON},
		{"stale ifMatch delete", "delete", forJSON("path", `D:\Models\existing.bin`, "ifMatch", `"0x8D000000000000"`), nil, 412, CodePrecondition},
		{"text/plain", "write", forJSON("path", `D:\Models\new.bin`, "contentBase64", valid), []func(*http.Request){header("Content-Type", "text/plain")}, 415, CodeMediaType},
		{"form", "write", "path=D:\\Models\\new.bin", []func(*http.Request){header("Content-Type", "application/x-www-form-urlencoded")}, 415, CodeMediaType},
		{"latin1 charset", "write", forJSON("path", `D:\Models\new.bin`, "contentBase64", valid), []func(*http.Request){header("Content-Type", "application/json; charset=iso-8859-1")}, 415, CodeMediaType},
		{"no content type", "write", forJSON("path", `D:\Models\new.bin`, "contentBase64", valid), []func(*http.Request){func(r *http.Request) { r.Header.Del("Content-Type") }}, 415, CodeMediaType},
		{"PUT", "write", forJSON("path", `D:\Models\new.bin`, "contentBase64", valid), []func(*http.Request){method(http.MethodPut)}, 405, CodeMethod},
		{"GET", "read", "", []func(*http.Request){method(http.MethodGet)}, 405, CodeMethod},
		{"unknown op", "move", forJSON("path", `D:\Models\existing.bin`), nil, 404, CodeUnknownOp},
		{"exec op", "exec", `{"command":"del /s D:\\"}`, nil, 404, CodeUnknownOp},
		{"list a file", "list", forJSON("path", `D:\Models\existing.bin`), nil, 400, CodeNotDirectory},
		{"text of a non-UTF-8 file", "read", forJSON("path", `D:\Models\latin1.txt`, "encoding", "utf8"), nil, 422, CodeNotUTF8},
		{"unknown encoding", "read", forJSON("path", `D:\Models\latin1.txt`, "encoding", "latin1"), nil, 400, CodeBadEncoding},
		{"encoding on exists", "exists", forJSON("path", `D:\Models\latin1.txt`, "encoding", "utf8"), nil, 400, CodeUnknownField},
	}
}

// TestAbortAfterStagedBlocks: a body that fails after whole blocks were
// staged (bad base64 at the end, small blocks) commits nothing: the file it
// meant to overwrite keeps its content, a new name stays absent.
func TestAbortAfterStagedBlocks(t *testing.T) {
	h := setup(t, func(c *Config) { c.BlockSize = 64 << 10 })
	q := newTSQL(h)
	if _, err := q.writeFileBytes(`D:\Models\keep.bin`, []byte("keep me")); err != nil {
		t.Fatal(err)
	}
	content := strings.Repeat("QUJD", 200_000) // 600 KB decoded: ten blocks
	for _, name := range []string{"keep.bin", "fresh.bin"} {
		for _, tail := range []string{"*", "QUJ"} {
			status, body := h.call("write", forJSON("path", `D:\Models\`+name, "contentBase64", content+tail))
			if status != 400 || !strings.Contains(string(body), CodeBadBase64) {
				t.Fatalf("%s: %d %s", name, status, body)
			}
		}
		status, body := h.call("write", forJSON("path", `D:\Models\`+name, "contentBase64", content, "ifMatch", "late"))
		if status != 400 || !strings.Contains(string(body), CodeFieldOrder) {
			t.Fatalf("%s: %d %s", name, status, body)
		}
	}
	if got := h.get(h.models, "keep.bin"); string(got) != "keep me" {
		t.Fatalf("keep.bin = %.40q", got)
	}
	if got := h.get(h.models, "fresh.bin"); got != nil {
		t.Fatalf("fresh.bin was committed (%d bytes)", len(got))
	}
	// And the same body, well formed, goes through.
	if n, err := q.writeFileBytes(`D:\Models\fresh.bin`, bytes.Repeat([]byte("ABC"), 200_000)); err != nil || n != 600_000 {
		t.Fatalf("valid write = %d, %v", n, err)
	}
}
