package files

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// This file emulates the shipped T-SQL procedures (sql/file-procs.sql) over
// the wire: each emulator builds its payload as FOR JSON does, wraps the
// answer the way sp_invoke_external_rest_endpoint fills @response, and
// reads it with the same JSON paths (ResponsePaths, EntryPaths), with
// JSON_VALUE's and OPENJSON's semantics. TestSQLPathsMatchScripts holds
// those paths and the .sql text together.

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// tsql runs procedures against a harness and records the paths it read.
type tsql struct {
	h        *harness
	used     map[string]bool
	usedKeys map[string]bool
}

func newTSQL(h *harness) *tsql {
	return &tsql{h: h, used: map[string]bool{}, usedKeys: map[string]bool{}}
}

// sqlError is a THROWn error: number and message.
type sqlError struct {
	number int
	msg    string
}

func (e *sqlError) Error() string { return fmt.Sprintf("Msg %d: %s", e.number, e.msg) }

// wrap builds @response as sp_invoke_external_rest_endpoint does.
func wrap(t testing.TB, status int, body []byte) any {
	t.Helper()
	doc := `{"response":{"status":{"http":{"code":` + strconv.Itoa(status) + `,"description":"` + http.StatusText(status) +
		`"}},"headers":{"Content-Type":"application\/json; charset=utf-8"}}`
	if status != http.StatusNoContent {
		doc += `,"result":` + string(body)
	}
	doc += "}"
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("the answer is not JSON sp_invoke_external_rest_endpoint could wrap: %v\n%.300s", err, body)
	}
	return v
}

// lookup evaluates a "$.a.b" path.
func lookup(doc any, path string) (any, bool) {
	cur := doc
	for _, k := range strings.Split(strings.TrimPrefix(path, "$."), ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// scalar renders a JSON scalar as T-SQL sees it (true → 'true', 12 → '12').
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case json.Number:
		return x.String(), true
	}
	return "", false // null, object, array: NULL
}

// jsonValue is JSON_VALUE (lax): NULL for a missing path, a non-scalar or
// a value over 4000 characters.
func (q *tsql) jsonValue(doc any, path string) (string, bool) {
	q.used[path] = true
	v, ok := lookup(doc, path)
	if !ok {
		return "", false
	}
	s, ok := scalar(v)
	if !ok || utf8.RuneCountInString(s) > 4000 {
		return "", false
	}
	return s, true
}

// openJSON is OPENJSON(@doc) WITH (col nvarchar(max) 'path'): no limit.
func (q *tsql) openJSON(doc any, path string) (string, bool) {
	q.used[path] = true
	v, ok := lookup(doc, path)
	if !ok {
		return "", false
	}
	return scalar(v)
}

// resultKey is SELECT [value] FROM OPENJSON(@doc, '$.result') WHERE
// [key] = key: no length limit.
func (q *tsql) resultKey(doc any, key string) (string, bool) {
	q.used["$.result"] = true
	q.usedKeys[key] = true
	v, ok := lookup(doc, "$.result."+key)
	if !ok {
		return "", false
	}
	return scalar(v)
}

// openJSONArray is OPENJSON(@doc, 'path'): the array's elements.
func (q *tsql) openJSONArray(doc any, path string) []any {
	q.used[path] = true
	v, _ := lookup(doc, path)
	a, _ := v.([]any)
	return a
}

// invoke is dbo.usp_OffloadInvoke.
func (q *tsql) invoke(route, payload string) (any, error) {
	q.h.t.Helper()
	op := strings.TrimPrefix(route, "files/")
	status, body := q.h.call(op, payload)
	doc := wrap(q.h.t, status, body)
	code, _ := q.jsonValue(doc, "$.response.status.http.code")
	st, err := strconv.Atoi(code)
	if err != nil || st < 200 || st > 299 {
		c, ok := q.jsonValue(doc, "$.result.code")
		if !ok {
			c = "(no code)"
		}
		e, ok := q.jsonValue(doc, "$.result.error")
		if !ok {
			e = string(body)
		}
		return nil, &sqlError{50101, fmt.Sprintf("Offload: POST /api/%s failed: HTTP %d %s: %s", route, st, c, e)}
	}
	return doc, nil
}

func (q *tsql) readFileBytes(path string) ([]byte, error) {
	doc, err := q.invoke("files/read", forJSON("path", path))
	if err != nil {
		return nil, err
	}
	if v, _ := q.jsonValue(doc, "$.result.exists"); v != "true" {
		return nil, nil
	}
	b64, _ := q.resultKey(doc, "contentBase64")
	b, err := base64.StdEncoding.DecodeString(b64) // xs:base64Binary
	if err != nil {
		q.h.t.Fatalf("contentBase64 does not decode: %v", err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

func (q *tsql) readFileText(path string) (*string, error) {
	doc, err := q.invoke("files/read", forJSON("path", path, "encoding", "utf8"))
	if err != nil {
		return nil, err
	}
	if v, _ := q.jsonValue(doc, "$.result.exists"); v != "true" {
		return nil, nil
	}
	s, _ := q.resultKey(doc, "text")
	return &s, nil
}

func (q *tsql) writeFileBytes(path string, content []byte) (int64, error) {
	doc, err := q.invoke("files/write", forJSON("path", path, "contentBase64", content))
	if err != nil {
		return 0, err
	}
	v, _ := q.jsonValue(doc, "$.result.bytesWritten")
	return strconv.ParseInt(v, 10, 64)
}

func (q *tsql) writeFileText(path, content string) (int64, error) {
	doc, err := q.invoke("files/write", forJSON("path", path, "text", content))
	if err != nil {
		return 0, err
	}
	v, _ := q.jsonValue(doc, "$.result.bytesWritten")
	return strconv.ParseInt(v, 10, 64)
}

func (q *tsql) exists(path string, dir bool) (bool, error) {
	doc, err := q.invoke("files/exists", forJSON("path", path))
	if err != nil {
		return false, err
	}
	e, _ := q.jsonValue(doc, "$.result.exists")
	d, _ := q.jsonValue(doc, "$.result.isDirectory")
	return e == "true" && d == strconv.FormatBool(dir), nil
}

func (q *tsql) deleteFile(path string) (bool, error) {
	doc, err := q.invoke("files/delete", forJSON("path", path))
	if err != nil {
		return false, err
	}
	v, _ := q.jsonValue(doc, "$.result.deleted")
	return v == "true", nil
}

// row is a row of usp_ListDirectory's result set.
type row struct {
	Path, Name   string
	IsDirectory  bool
	SizeBytes    int64
	LastModified *time.Time
}

func (q *tsql) listDirectory(dir string) ([]row, error) {
	doc, err := q.invoke("files/list", forJSON("path", dir))
	if err != nil {
		return nil, err
	}
	sep := "/"
	switch {
	case strings.HasSuffix(dir, `\`) || strings.HasSuffix(dir, "/"):
		sep = ""
	case strings.Contains(dir, `\`):
		sep = `\`
	}
	var rows []row
	for _, e := range q.openJSONArray(doc, "$.result.entries") {
		name, _ := q.openJSON(e, "$.name")
		size, _ := q.openJSON(e, "$.sizeBytes")
		lm, hasLM := q.openJSON(e, "$.lastModified")
		isDir, _ := q.openJSON(e, "$.isDirectory")
		r := row{Path: dir + sep + name, Name: name, IsDirectory: isDir == "true"}
		if r.SizeBytes, err = strconv.ParseInt(size, 10, 64); err != nil {
			q.h.t.Fatalf("sizeBytes %q is not a bigint", size)
		}
		if hasLM {
			// TRY_CAST(... AS datetimeoffset(7)): ISO 8601, at most 7 digits.
			ts, err := time.Parse("2006-01-02T15:04:05.9999999Z07:00", lm)
			if err != nil {
				q.h.t.Fatalf("lastModified %q is not datetimeoffset(7) text: %v", lm, err)
			}
			r.LastModified = &ts
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func TestProceduresRoundTrip(t *testing.T) {
	h := setup(t)
	q := newTSQL(h)
	bin := make([]byte, 256*3)
	for i := range bin {
		bin[i] = byte(i)
	}
	roundTrip(t, h, q, bin)
	checkExists(t, q)
	checkList(t, q, bin)
	checkDelete(t, q)
	// A refusal reaches T-SQL as THROW 50101 with the code and message.
	_, err := q.readFileBytes(`D:\Models\..\secrets`)
	var se *sqlError
	if !asSQLError(err, &se) || se.number != 50101 || !strings.Contains(se.msg, "HTTP 400 path_traversal") {
		t.Fatalf("traversal through the procedure = %v", err)
	}

	checkEveryPathRead(t, q)
}

// roundTrip writes and reads back bytes, text and an empty file through
// the procedures.
func roundTrip(t *testing.T, h *harness, q *tsql, bin []byte) {
	t.Helper()
	n, err := q.writeFileBytes(`D:\Models\blobs\sha256-9d507a36`, bin)
	if err != nil || n != int64(len(bin)) {
		t.Fatalf("writeFileBytes = %d, %v", n, err)
	}
	if got := h.get(h.models, "blobs/sha256-9d507a36"); !bytes.Equal(got, bin) {
		t.Fatalf("blob content differs: %d bytes", len(got))
	}
	got, err := q.readFileBytes(`d:/models/blobs/sha256-9d507a36`)
	if err != nil || !bytes.Equal(got, bin) {
		t.Fatalf("readFileBytes = %d bytes, %v", len(got), err)
	}
	if got, err := q.readFileBytes(`D:\Models\blobs\missing`); err != nil || got != nil {
		t.Fatalf("readFileBytes of a missing file = %v, %v; want NULL", got, err)
	}

	text := "SELECT N'héllo';\n\t\"quoted\" \\ / \u2028 模型 😀 \x01 end"
	n, err = q.writeFileText(`D:\Repositories\Hartonomous\src\gen.sql`, text)
	if err != nil || n != int64(len(text)) {
		t.Fatalf("writeFileText = %d, %v (want %d UTF-8 bytes)", n, err, len(text))
	}
	if got := h.get(h.repo, "src/gen.sql"); string(got) != text {
		t.Fatalf("text blob = %q", got)
	}
	s, err := q.readFileText(`D:\Repositories\Hartonomous\src\gen.sql`)
	if err != nil || s == nil || *s != text {
		t.Fatalf("readFileText = %v, %v", s, err)
	}
	if s, err := q.readFileText(`D:\Repositories\Hartonomous\nope.txt`); err != nil || s != nil {
		t.Fatalf("readFileText of a missing file = %v, %v", s, err)
	}

	// Empty files are files.
	if n, err := q.writeFileBytes(`D:\Models\empty.bin`, []byte{}); err != nil || n != 0 {
		t.Fatalf("empty write = %d, %v", n, err)
	}
	if got, err := q.readFileBytes(`D:\Models\empty.bin`); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty read = %v, %v", got, err)
	}
}

// checkExists asks usp_FileExists about files, directories and neither.
func checkExists(t *testing.T, q *tsql) {
	t.Helper()
	for _, tc := range []struct {
		path string
		dir  bool
		want bool
	}{
		{`D:\Models\blobs\sha256-9d507a36`, false, true},
		{`D:\Models\blobs\sha256-9d507a36`, true, false},
		{`D:\Models\blobs`, true, true},
		{`D:\Models\blobs\`, true, true},
		{`D:\Models\blobs`, false, false},
		{`D:\Models`, true, true},
		{`D:\Models\nothing`, false, false},
		{`D:\Models\nothing`, true, false},
		{`D:\Models\blob`, true, false}, // a name prefix is not a directory
	} {
		got, err := q.exists(tc.path, tc.dir)
		if err != nil || got != tc.want {
			t.Errorf("exists(%q, dir=%v) = %v, %v; want %v", tc.path, tc.dir, got, err, tc.want)
		}
	}
}

// checkList lists a root and a directory under it.
func checkList(t *testing.T, q *tsql, bin []byte) {
	t.Helper()
	rows, err := q.listDirectory(`D:\Models`)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Name != "blobs" || !rows[0].IsDirectory || rows[0].LastModified != nil ||
		rows[0].Path != `D:\Models\blobs` || rows[1].Name != "empty.bin" || rows[1].IsDirectory ||
		rows[1].SizeBytes != 0 || rows[1].LastModified == nil || time.Since(*rows[1].LastModified) > time.Hour {
		t.Fatalf("list D:\\Models = %+v", rows)
	}
	rows, err = q.listDirectory(`D:\Models\blobs\`)
	if err != nil || len(rows) != 1 || rows[0].Name != "sha256-9d507a36" || rows[0].SizeBytes != int64(len(bin)) ||
		rows[0].Path != `D:\Models\blobs\sha256-9d507a36` {
		t.Fatalf("list D:\\Models\\blobs\\ = %+v, %v", rows, err)
	}
	if rows, err := q.listDirectory(`D:\Models\nowhere`); err != nil || len(rows) != 0 {
		t.Fatalf("list of a missing directory = %+v, %v", rows, err)
	}
}

// checkDelete deletes the one file of a directory, which goes with it.
func checkDelete(t *testing.T, q *tsql) {
	t.Helper()
	ok, err := q.deleteFile(`D:\Models\blobs\sha256-9d507a36`)
	if err != nil || !ok {
		t.Fatalf("deleteFile = %v, %v", ok, err)
	}
	if ok, err := q.deleteFile(`D:\Models\blobs\sha256-9d507a36`); err != nil || ok {
		t.Fatalf("second deleteFile = %v, %v; want false", ok, err)
	}
	if ok, _ := q.exists(`D:\Models\blobs`, true); ok {
		t.Fatal("the directory outlived its last file")
	}
}

// checkEveryPathRead fails when a JSON path the Files API answers with was
// read by no procedure emulator: the emulators read what T-SQL reads.
func checkEveryPathRead(t *testing.T, q *tsql) {
	t.Helper()
	for _, p := range append(append([]string(nil), ResponsePaths...), EntryPaths...) {
		if p == "$.result.messageId" {
			continue // usp_PublishMessageNow: internal/publish's tests
		}
		if !q.used[p] {
			t.Errorf("no procedure emulator read %s", p)
		}
	}
	for _, k := range ResultKeys {
		if !q.usedKeys[k] {
			t.Errorf("no procedure emulator read $.result's %s", k)
		}
	}
}

func asSQLError(err error, target **sqlError) bool {
	se, ok := err.(*sqlError)
	if ok {
		*target = se
	}
	return ok
}
