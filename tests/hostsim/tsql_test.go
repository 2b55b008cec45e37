package hostsim_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	mssqldb "github.com/microsoft/go-mssqldb"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/files"
	"github.com/hartonomous/offload/tests/hostsim"
)

// What the T-SQL tests need from the engine besides MSSQL_TEST_DSN
// (docs/TSQL.md, "The test engine's REST endpoint"):
const (
	// caFileEnv names the file the engine's HTTP client trusts as its CA
	// bundle: the test writes its own CA certificate there.
	caFileEnv = "MSSQL_TEST_CA_FILE"
	// credentialProcEnv names a procedure that creates a database scoped
	// credential (@name, @identity, @secret), for an engine where CREATE
	// DATABASE SCOPED CREDENTIAL is not available. Unset: the statement
	// itself is used.
	credentialProcEnv = "MSSQL_TEST_CREDENTIAL_PROC"
)

// tsqlWorld is the handler under the host simulator, over HTTPS with
// function keys, and a throwaway database on the T-SQL engine holding the
// shipped procedures, pointed at the simulator through a database scoped
// credential that carries the Files and PublishMessage key.
type tsqlWorld struct {
	t   *testing.T
	db  *sql.DB
	a   *app
	h   *host
	pki *testPKI
	key string
}

// setupTSQL builds the world; each edit may change the app's settings
// before the host starts (dsn is the throwaway database's).
func setupTSQL(t *testing.T, edits ...func(a *app, dsn string)) *tsqlWorld {
	t.Helper()
	dsn := mssqltest.Database(t)
	caFile := os.Getenv(caFileEnv)
	if caFile == "" {
		t.Fatalf("%s is not set: it names the CA bundle file the engine's HTTP client trusts, which this test writes (docs/TSQL.md)", caFileEnv)
	}
	w := &tsqlWorld{t: t, pki: newPKI(t), key: randomHex(t)}
	if err := os.WriteFile(caFile, w.pki.CAPEM, 0o644); err != nil {
		t.Fatalf("%s: %v", caFileEnv, err)
	}
	w.a = newApp(t, nil)
	// 1 MiB: a larger write is refused by the host, as 100 MB would be.
	w.a.settings["FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"] = fmt.Sprint(1 << 20)
	for _, edit := range edits {
		edit(w.a, dsn)
	}
	w.h = w.a.mustStart(hostsim.Config{NoQueues: true, TLS: w.pki.Server, Keys: &hostsim.Keys{
		Master:   randomHex(t),
		Function: map[string][]string{"Files": {w.key}, "PublishMessage": {w.key}},
	}})
	var err error
	if w.db, err = sql.Open("sqlserver", dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.db.Close() })

	ctx := context.Background()
	form, err := files.DetectBase64(ctx, w.db)
	if err != nil {
		t.Fatal(err)
	}
	script, err := files.ProcsSQL(files.ProcsParams{FunctionURL: w.h.URL(), Base64: form})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range files.Batches(script) {
		if _, err := w.db.ExecContext(ctx, b); err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
	}
	mssqltest.AfterProcs(t, w.db)
	w.credential(w.h.URL(), `{"x-functions-key":"`+w.key+`"}`)
	return w
}

func randomHex(t *testing.T) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$`)

// credential creates the DATABASE SCOPED CREDENTIAL name with an
// HTTPEndpointHeaders secret, as credential-template.sql does (the
// statement takes no parameters: name and secret are the test's own).
func (w *tsqlWorld) credential(name, secret string) {
	w.t.Helper()
	ctx := context.Background()
	if proc := os.Getenv(credentialProcEnv); proc != "" {
		if !identifier.MatchString(proc) {
			w.t.Fatalf("%s=%q is not a procedure name", credentialProcEnv, proc)
		}
		if _, err := w.db.ExecContext(ctx, "EXEC "+proc+" @name = @p1, @identity = N'HTTPEndpointHeaders', @secret = @p2", name, secret); err != nil {
			w.t.Fatalf("%s: %v", proc, err)
		}
		return
	}
	stmt := fmt.Sprintf("CREATE DATABASE SCOPED CREDENTIAL [%s] WITH IDENTITY = 'HTTPEndpointHeaders', SECRET = '%s';",
		name, strings.ReplaceAll(secret, "'", "''"))
	if _, err := w.db.ExecContext(ctx, stmt); err != nil {
		w.t.Fatalf("%v (on an engine without the statement, set %s: docs/TSQL.md)", err, credentialProcEnv)
	}
}

// setting changes a row of dbo.OffloadSettings.
func (w *tsqlWorld) setting(name, value string) {
	w.t.Helper()
	ctx := context.Background()
	res, err := w.db.ExecContext(ctx, "UPDATE dbo.OffloadSettings SET Value = @p2 WHERE Name = @p1", name, value)
	if err != nil {
		w.t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := w.db.ExecContext(ctx, "INSERT dbo.OffloadSettings (Name, Value) VALUES (@p1, @p2)", name, value); err != nil {
			w.t.Fatal(err)
		}
	}
}

// row runs a T-SQL batch and scans its one row.
func (w *tsqlWorld) row(batch string, args []any, dest ...any) error {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return w.db.QueryRowContext(ctx, batch, args...).Scan(dest...)
}

// thrown checks err is the error the procedures THROW (number) with a
// message holding each of want.
func thrown(t *testing.T, what string, err error, number int32, want ...string) {
	t.Helper()
	var e mssqldb.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: %v, want error %d", what, err, number)
	}
	if number != 0 && e.Number != number {
		t.Fatalf("%s: error %d %q, want %d", what, e.Number, e.Message, number)
	}
	for _, s := range want {
		if !strings.Contains(e.Message, s) {
			t.Fatalf("%s: error %d %q lacks %q", what, e.Number, e.Message, s)
		}
	}
}

// Every usp_* procedure, called from a T-SQL batch on the engine, makes a
// real HTTPS call through sys.sp_invoke_external_rest_endpoint and the
// database scoped credential to the Function under the host simulator,
// which checks the key; the answers come back through the documented
// @response document into the OUTPUT parameters. Then every failure path.
func TestFileProcsOnTSQL(t *testing.T) {
	w := setupTSQL(t)
	binLen, textLen := tsqlReadWrite(t, w)
	escLen := tsqlEscapes(t, w)
	tsqlExists(t, w)
	tsqlList(t, w, binLen, textLen, escLen)
	tsqlDelete(t, w)
	tsqlPublish(t, w)
	if calls := w.h.Invocations("Files"); len(calls) == 0 {
		t.Fatal("the host saw no Files invocation")
	}
}

// tsqlReadWrite writes and reads back bytes and text through the
// procedures, and returns their sizes in bytes.
func tsqlReadWrite(t *testing.T, w *tsqlWorld) (binLen, textLen int) {
	t.Helper()
	models := w.a.settings["MODELS_CONTAINER"]
	// Bytes, longer than JSON_VALUE's 4,000 characters in base64.
	bin := make([]byte, 300<<10)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	var n int64
	if err := w.row(`DECLARE @n bigint;
EXEC dbo.usp_WriteFileBytes @FilePath = @p1, @Content = @p2, @BytesWritten = @n OUTPUT;
SELECT @n;`, []any{`D:\Models\tsql\weights.bin`, bin}, &n); err != nil || n != int64(len(bin)) {
		t.Fatalf("usp_WriteFileBytes = %d, %v", n, err)
	}
	if got := getBlob(t, models, "tsql/weights.bin"); !bytes.Equal(got, bin) {
		t.Fatalf("the blob holds %d bytes, not the %d written", len(got), len(bin))
	}
	var got []byte
	if err := w.row(`DECLARE @c varbinary(max);
EXEC dbo.usp_ReadFileBytes @FilePath = @p1, @Content = @c OUTPUT;
SELECT @c;`, []any{`d:/models/tsql/weights.bin`}, &got); err != nil || !bytes.Equal(got, bin) {
		t.Fatalf("usp_ReadFileBytes = %d bytes, %v", len(got), err)
	}

	// Text, positionally, as a CLR call site becomes: SET @n =
	// dbo.clr_WriteFileText(@p, @t) → EXEC dbo.usp_WriteFileText @p, @t, @n OUTPUT.
	// Over 4,000 characters (JSON_VALUE's limit).
	text := strings.Repeat("SELECT N'héllo 模型 😀'; ", 400)
	if err := w.row(`DECLARE @p nvarchar(max) = @p1, @t nvarchar(max) = @p2, @n bigint;
EXEC dbo.usp_WriteFileText @p, @t, @n OUTPUT;
SELECT @n;`, []any{`D:\Models\tsql\gen.sql`, text}, &n); err != nil || n != int64(len(text)) {
		t.Fatalf("usp_WriteFileText = %d, %v (want %d UTF-8 bytes)", n, err, len(text))
	}
	var s sql.NullString
	if err := w.row(`DECLARE @t nvarchar(max);
EXEC dbo.usp_ReadFileText @FilePath = @p1, @Content = @t OUTPUT;
SELECT @t;`, []any{`D:\Models\tsql\gen.sql`}, &s); err != nil || s.String != text {
		t.Fatalf("usp_ReadFileText = %d bytes %.60q, %v", len(s.String), s.String, err)
	}
	return len(bin), len(text)
}

// tsqlEscapes writes and reads back a text with characters JSON escapes,
// and returns its size in bytes.
func tsqlEscapes(t *testing.T, w *tsqlWorld) int {
	t.Helper()
	var s sql.NullString
	escaped := "line 1\n\t\"quoted\" C:\\dir\\ <&> \u2028 \x01 end"
	if err := w.row(`DECLARE @n bigint, @t nvarchar(max);
EXEC dbo.usp_WriteFileText @p1, @p2, @n OUTPUT;
EXEC dbo.usp_ReadFileText @p1, @t OUTPUT;
SELECT @t;`, []any{`D:\Models\tsql\esc.txt`, escaped}, &s); err != nil {
		t.Fatal(err)
	}
	if s.String != escaped {
		// The test engine's JSON functions keep a string's escapes
		// (docs/TSQL.md): then the text must be exactly the escaped form.
		var unescaped string
		if err := json.Unmarshal([]byte(`"`+s.String+`"`), &unescaped); err != nil || unescaped != escaped {
			t.Fatalf("usp_ReadFileText of escaped characters = %q (%v)", s.String, err)
		}
		t.Logf("this engine's JSON functions keep escapes: usp_ReadFileText gave %q", s.String)
	}
	return len(escaped)
}

// tsqlExists asks usp_FileExists and usp_DirectoryExists about files,
// directories and neither.
func tsqlExists(t *testing.T, w *tsqlWorld) {
	t.Helper()
	exists := func(proc, param, path string) bool {
		t.Helper()
		var e bool
		if err := w.row(fmt.Sprintf(`DECLARE @e bit;
EXEC dbo.%s %s = @p1, @Exists = @e OUTPUT;
SELECT @e;`, proc, param), []any{path}, &e); err != nil {
			t.Fatalf("%s(%s): %v", proc, path, err)
		}
		return e
	}
	for _, tc := range []struct {
		proc, param, path string
		want              bool
	}{
		{"usp_FileExists", "@FilePath", `D:\Models\tsql\weights.bin`, true},
		{"usp_FileExists", "@FilePath", `D:\Models\tsql`, false},
		{"usp_FileExists", "@FilePath", `D:\Models\tsql\missing.bin`, false},
		{"usp_DirectoryExists", "@DirectoryPath", `D:\Models\tsql`, true},
		{"usp_DirectoryExists", "@DirectoryPath", `D:\Models\tsql\weights.bin`, false},
		{"usp_DirectoryExists", "@DirectoryPath", `D:\Models\nowhere`, false},
	} {
		if got := exists(tc.proc, tc.param, tc.path); got != tc.want {
			t.Errorf("%s(%s) = %v, want %v", tc.proc, tc.path, got, tc.want)
		}
	}
}

// tsqlList lists the directory tsqlReadWrite and tsqlEscapes wrote: its
// rows (the result set), then @Entries (the JSON). (INSERT … EXEC of it
// fails on the test engine: docs/TSQL.md.)
func tsqlList(t *testing.T, w *tsqlWorld, binLen, textLen, escLen int) {
	t.Helper()
	var names, entries string
	rs, err := w.db.Query(`DECLARE @e nvarchar(max);
EXEC dbo.usp_ListDirectory @DirectoryPath = @p1, @Entries = @e OUTPUT;
SELECT @e;`, `D:\Models\tsql`)
	if err != nil {
		t.Fatalf("usp_ListDirectory: %v", err)
	}
	var listed []string
	for rs.Next() {
		var path, name string
		var isDir bool
		var size int64
		var lm sql.NullTime
		if err := rs.Scan(&path, &name, &isDir, &size, &lm); err != nil {
			t.Fatalf("usp_ListDirectory row: %v", err)
		}
		listed = append(listed, fmt.Sprintf("%s|%s|%d", path, name, size))
	}
	if !rs.NextResultSet() || !rs.Next() {
		t.Fatalf("usp_ListDirectory @Entries: no second result set (%v)", rs.Err())
	}
	if err := rs.Scan(&entries); err != nil {
		t.Fatal(err)
	}
	rs.Close()
	slices.Sort(listed)
	names = strings.Join(listed, ";")
	want := fmt.Sprintf(`D:\Models\tsql\esc.txt|esc.txt|%d;D:\Models\tsql\gen.sql|gen.sql|%d;D:\Models\tsql\weights.bin|weights.bin|%d`, escLen, textLen, binLen)
	if names != want {
		t.Errorf("usp_ListDirectory rows %q, want %q", names, want)
	}
	var list []struct{ Name string }
	if err := json.Unmarshal([]byte(entries), &list); err != nil || len(list) != 3 {
		t.Errorf("usp_ListDirectory @Entries %s: %v", entries, err)
	}
}

// tsqlDelete deletes a file twice (true, then false); a missing file then
// reads as NULL.
func tsqlDelete(t *testing.T, w *tsqlWorld) {
	t.Helper()
	var deleted bool
	for i, want := range []bool{true, false} {
		if err := w.row(`DECLARE @d bit; EXEC dbo.usp_DeleteFile @FilePath = @p1, @Deleted = @d OUTPUT; SELECT @d;`,
			[]any{`D:\Models\tsql\gen.sql`}, &deleted); err != nil || deleted != want {
			t.Fatalf("usp_DeleteFile #%d = %v, %v; want %v", i+1, deleted, err, want)
		}
	}

	// A missing file is no error: NULL, as the CLR functions answered.
	var none []byte
	var noText sql.NullString
	if err := w.row(`DECLARE @c varbinary(max), @t nvarchar(max);
EXEC dbo.usp_ReadFileBytes @FilePath = @p1, @Content = @c OUTPUT;
EXEC dbo.usp_ReadFileText @FilePath = @p1, @Content = @t OUTPUT;
SELECT @c, @t;`, []any{`D:\Models\tsql\gen.sql`}, &none, &noText); err != nil || none != nil || noText.Valid {
		t.Fatalf("reading a missing file = %v, %v, %v; want NULL, NULL", none, noText, err)
	}
}

// tsqlPublish: usp_PublishMessageNow puts the message on its queue.
func tsqlPublish(t *testing.T, w *tsqlWorld) {
	t.Helper()
	queue := w.a.settings["PUBLISH_QUEUES"]
	var id sql.NullString
	if err := w.row(`DECLARE @id nvarchar(100);
EXEC dbo.usp_PublishMessageNow @Queue = @p1, @Message = @p2, @MessageId = @id OUTPUT;
SELECT @id;`, []any{queue, `{"event":"atom.changed","atomId":42}`}, &id); err != nil || id.String == "" {
		t.Fatalf("usp_PublishMessageNow = %v, %v", id, err)
	}
	b, err := broker.New(config.Storage{ConnectionString: az.ConnectionString}, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := b.Receive(context.Background(), queue, 1, time.Minute)
	if err != nil || len(msgs) != 1 || !strings.Contains(string(msgs[0].Body), `"atomId":42`) {
		t.Fatalf("queue %s: %v, %v", queue, msgs, err)
	}
}

// Every failure path from T-SQL, each through the real call: a refused
// path, bad base64, a body over the host's and over the queue's limit, the
// call's own return value (the HTTP status, no error), 401 without the
// right key, a 5xx from the Function, a timeout, and missing settings.
func TestFileProcFailuresOnTSQL(t *testing.T) {
	w := setupTSQL(t)
	models := w.a.settings["MODELS_CONTAINER"]
	read := func(path string) error {
		var c []byte
		return w.row(`DECLARE @c varbinary(max); EXEC dbo.usp_ReadFileBytes @FilePath = @p1, @Content = @c OUTPUT; SELECT @c;`, []any{path}, &c)
	}
	thrown(t, "traversal", read(`D:\Models\..\secrets`), 50101, "HTTP 400", "path_traversal")
	thrown(t, "outside the roots", read(`C:\Windows\win.ini`), 50101, "HTTP 400", "outside_roots")

	// Bad base64 cannot come from the procedures (they encode); sent by
	// hand through dbo.usp_OffloadInvoke it is refused and writes nothing.
	var r sql.NullString
	err := w.row(`DECLARE @r nvarchar(max);
EXEC dbo.usp_OffloadInvoke @Route = N'files/write', @Payload = @p1, @Response = @r OUTPUT;
SELECT @r;`, []any{`{"path":"D:\\Models\\bad.bin","contentBase64":"not*base64"}`}, &r)
	thrown(t, "bad base64", err, 50101, "HTTP 400", "bad_base64")
	if getBlob(t, models, "bad.bin") != nil {
		t.Fatal("a refused write left a blob")
	}

	// Over the host's body limit (FUNCTIONS_REQUEST_BODY_SIZE_LIMIT, 1 MiB
	// here): 413 from the host, nothing written.
	var n sql.NullInt64
	err = w.row(`DECLARE @n bigint; EXEC dbo.usp_WriteFileBytes @FilePath = @p1, @Content = @p2, @BytesWritten = @n OUTPUT; SELECT @n;`,
		[]any{`D:\Models\big.bin`, make([]byte, 1<<20)}, &n)
	thrown(t, "a write over the host's limit", err, 50101, "HTTP 413")
	if getBlob(t, models, "big.bin") != nil {
		t.Fatal("an oversize write left a blob")
	}
	// Over a queue message's size: 413 too_large from PublishMessage.
	var id sql.NullString
	err = w.row(`DECLARE @id nvarchar(100); EXEC dbo.usp_PublishMessageNow @Queue = @p1, @Message = @p2, @MessageId = @id OUTPUT; SELECT @id;`,
		[]any{w.a.settings["PUBLISH_QUEUES"], `{"x":"` + strings.Repeat("a", 60000) + `"}`}, &id)
	thrown(t, "an oversize message", err, 50101, "HTTP 413", "too_large")

	// The call itself: 0 on 2xx, the HTTP status otherwise, no error
	// raised; the status is in @response either way.
	call := func(credential string) (int, int) {
		t.Helper()
		var rc, code int
		cred := "NULL"
		if credential != "" {
			cred = "@p2"
		}
		if err := w.row(`DECLARE @rc int, @r nvarchar(max);
EXEC @rc = sys.sp_invoke_external_rest_endpoint @url = @p1, @method = N'POST', @payload = N'{"path":"D:\\Models"}',
     @credential = `+cred+`, @timeout = 30, @response = @r OUTPUT;
SELECT @rc, CAST(JSON_VALUE(@r, '$.response.status.http.code') AS int);`,
			[]any{w.h.URL() + "/api/files/exists", credential}, &rc, &code); err != nil {
			t.Fatalf("sp_invoke_external_rest_endpoint (credential %q): %v", credential, err)
		}
		return rc, code
	}
	if rc, code := call(w.h.URL()); rc != 0 || code != 200 {
		t.Errorf("with the key: return %d, status %d; want 0, 200", rc, code)
	}
	if rc, code := call(""); rc != 401 || code != 401 {
		t.Errorf("without a credential: return %d, status %d; want 401, 401", rc, code)
	}

	// 401 through the procedures: a credential with a wrong key (named
	// for a narrower path prefix, as the name rules allow).
	w.credential(w.h.URL()+"/api", `{"x-functions-key":"not-the-key"}`)
	w.setting("FunctionCredential", w.h.URL()+"/api")
	thrown(t, "a wrong key", read(`D:\Models\a.bin`), 50101, "HTTP 401")
	w.setting("FunctionCredential", w.h.URL())

	// A 5xx from the Function: an app whose storage key is wrong answers
	// 502 storage_error.
	broken := newApp(t, nil)
	broken.settings["AzureWebJobsStorage"] = strings.Replace(az.ConnectionString, "AccountKey=", "AccountKey=AAAA", 1)
	bh := broken.mustStart(hostsim.Config{NoQueues: true, TLS: w.pki.Server, Keys: &hostsim.Keys{Function: map[string][]string{"Files": {w.key}}}})
	w.credential(bh.URL(), `{"x-functions-key":"`+w.key+`"}`)
	w.setting("FunctionUrl", bh.URL())
	w.setting("FunctionCredential", bh.URL())
	thrown(t, "a storage failure", read(`D:\Models\a.bin`), 50101, "HTTP 502", "storage_error")

	// No answer within TimeoutSeconds: the call raises an error (not a
	// status), and the procedure stops with it.
	hole := newGate(t, "")
	holeURL := fmt.Sprintf("https://127.0.0.1:%d", hole.port())
	w.credential(holeURL, `{"x-functions-key":"`+w.key+`"}`)
	w.setting("FunctionUrl", holeURL)
	w.setting("FunctionCredential", holeURL)
	w.setting("TimeoutSeconds", "2")
	err = read(`D:\Models\a.bin`)
	var e mssqldb.Error
	if !errors.As(err, &e) || e.Number == 50101 {
		t.Fatalf("a call that timed out: %v, want the call's own error", err)
	}
	t.Logf("a timed-out call raises: %d %s", e.Number, e.Message)

	// Without its settings a procedure says what to run.
	if _, err := w.db.ExecContext(context.Background(), "DELETE dbo.OffloadSettings WHERE Name = N'FunctionUrl'"); err != nil {
		t.Fatal(err)
	}
	thrown(t, "no FunctionUrl", read(`D:\Models\a.bin`), 50100, "schema apply --with-file-procs")
}

// After migration, T-SQL reads an atom's file by the path it always had:
// the demo catalog on the engine, its atom files of every modality (model,
// image, audio) uploaded, proven and linked by the command line, whatever
// container each went to, then each atom's PayloadLocator read back
// through usp_ReadFileBytes and usp_FileExists, byte for byte, whatever
// container the upload chose; a write to such a path is refused.
func TestMigratedAtomsOnTSQL(t *testing.T) {
	var files string
	w := setupTSQL(t, func(a *app, dsn string) {
		files = filepath.Join(a.dir, ".offload", "files")
		a.settings["SQL_CONNECTION_STRING"] = dsn
		// The demo puts model files under files and media beside it.
		a.settings["FILES_ROOTS"] = filepath.Dir(files) + "/=" + a.settings["MODELS_CONTAINER"]
	})
	w.a.cli("demo", "seed", "--small", "--files-dir", files)
	// The procedures again, as a user makes them: the command picks the
	// base64 form the engine has.
	if out := w.a.cli("schema", "apply", "--with-file-procs", "--function-url", w.h.URL()); !strings.Contains(out, "-- file procedures: base64 with") {
		t.Fatalf("schema apply --with-file-procs:\n%s", out)
	}
	mssqltest.AfterProcs(t, w.db)
	w.a.cli("atoms", "upload")
	w.a.cli("atoms", "link")

	rows, err := w.db.Query("SELECT Modality, PayloadLocator FROM dbo.Atoms WHERE PayloadLocator IS NOT NULL AND BlobUri IS NOT NULL")
	if err != nil {
		t.Fatal(err)
	}
	byModality := map[string][]string{}
	for rows.Next() {
		var m, loc string
		if err := rows.Scan(&m, &loc); err != nil {
			t.Fatal(err)
		}
		byModality[m] = append(byModality[m], loc)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if len(byModality["model"]) == 0 || len(byModality["image"]) == 0 {
		t.Fatalf("linked atoms by modality: %v; want model and image atoms", byModality)
	}
	for modality, locs := range byModality {
		for _, loc := range locs {
			want, err := os.ReadFile(loc)
			if err != nil {
				t.Fatalf("%s atom's file: %v", modality, err)
			}
			var got []byte
			var e bool
			if err := w.row(`DECLARE @c varbinary(max), @e bit;
EXEC dbo.usp_ReadFileBytes @p1, @c OUTPUT;
EXEC dbo.usp_FileExists @p1, @e OUTPUT;
SELECT @c, @e;`, []any{loc}, &got, &e); err != nil || !bytes.Equal(got, want) || !e {
				t.Fatalf("%s atom %s through T-SQL: %d bytes (want %d), exists %v, %v", modality, loc, len(got), len(want), e, err)
			}
		}
		t.Logf("%d %s atom(s) read back by their PayloadLocator", len(locs), modality)
	}
	var n sql.NullInt64
	loc := byModality["model"][0]
	err = w.row(`DECLARE @n bigint; EXEC dbo.usp_WriteFileBytes @p1, 0x00, @n OUTPUT; SELECT @n;`, []any{loc}, &n)
	thrown(t, "a write over a migrated atom's file", err, 50101, "HTTP 409")
}

// getBlob reads a blob straight from Azurite (nil when it does not exist).
func getBlob(t *testing.T, container, name string) []byte {
	t.Helper()
	c, err := blobstore.New(config.Storage{ConnectionString: az.ConnectionString}, blobstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if ok, err := c.Exists(ctx, container, name); err != nil || !ok {
		if err != nil {
			t.Fatal(err)
		}
		return nil
	}
	r, _, err := c.Download(ctx, container, name, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
