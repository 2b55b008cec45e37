package files_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/hartonomous/offload/internal/files"
)

// On a real SQL Server (MSSQL_TEST_DSN): the procedures create, applying them
// twice is harmless, and their JSON parsing works on canned @response values
// (dbo.usp_OffloadInvoke, the only caller of sp_invoke_external_rest_endpoint,
// is replaced by a stub that returns what the endpoint would).
func TestProcsOnTSQL(t *testing.T) {
	dsn := os.Getenv("MSSQL_TEST_DSN")
	if dsn == "" {
		t.Skip("MSSQL_TEST_DSN is not set: the T-SQL procedures are checked on SQL Server only when it is")
	}
	ctx := context.Background()
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	script, err := files.ProcsSQL("https://offload-test.azurewebsites.net", "")
	if err != nil {
		t.Fatal(err)
	}
	// Every batch must run, twice, except where the engine lacks XML
	// methods (Babelfish): there only the base64 decoder may fail to
	// create, and the bytes usp_ReadFileBytes returns are not checked.
	decodes := true
	for round := 0; round < 2; round++ {
		for _, b := range files.Batches(script) {
			_, err := db.ExecContext(ctx, b)
			if err != nil && strings.HasPrefix(b, "CREATE FUNCTION dbo.ufn_OffloadBase64Decode") && strings.Contains(err.Error(), "XML") {
				decodes = false
				continue
			}
			if err != nil {
				t.Fatalf("round %d: %v\n%s", round, err, b)
			}
		}
	}
	if !decodes {
		t.Log("this engine cannot create dbo.ufn_OffloadBase64Decode (no XML methods): the decoded bytes of usp_ReadFileBytes are not checked here")
	}
	// The procedures answer through OUTPUT parameters of (max) types, as
	// the CLR functions returned varbinary(max) / nvarchar(max). An engine
	// that cannot bind a (max) OUTPUT parameter (Babelfish 4.2) can create
	// them but not run them: say so, and stop after the creation checks.
	if !maxOutputParams(t, db) {
		t.Log("this engine does not bind (max)-typed OUTPUT parameters: the procedures were created (twice) but are not executed here; see docs/TSQL.md")
		return
	}
	stub := func(result string) {
		t.Helper()
		body := `ALTER PROCEDURE dbo.usp_OffloadInvoke @Route nvarchar(200), @Payload nvarchar(max), @Response nvarchar(max) OUTPUT
AS BEGIN SET @Response = N'{"response":{"status":{"http":{"code":200,"description":"OK"}},"headers":{}},"result":` +
			strings.ReplaceAll(result, "'", "''") + `}'; END`
		if _, err := db.ExecContext(ctx, body); err != nil {
			t.Fatal(err)
		}
	}

	stub(`{"path":"D:\\Models\\a.bin","exists":true,"sizeBytes":3,"etag":"\"0x1\"","contentBase64":"AQID"}`)
	content := []byte{}                                       // not nil: an OUTPUT parameter needs a typed value
	if _, err := db.ExecContext(ctx, "dbo.usp_ReadFileBytes", // an RPC call: OUTPUT parameters by name
		sql.Named("FilePath", `D:\Models\a.bin`), sql.Named("Content", sql.Out{Dest: &content})); err != nil {
		t.Fatal(err)
	}
	if decodes && string(content) != "\x01\x02\x03" {
		t.Fatalf("usp_ReadFileBytes content %x", content)
	}

	stub(`{"path":"D:\\Models\\t.txt","exists":true,"sizeBytes":5,"etag":"\"0x2\"","text":"héllo"}`)
	var text string
	if _, err := db.ExecContext(ctx, "dbo.usp_ReadFileText",
		sql.Named("FilePath", `D:\Models\t.txt`), sql.Named("Content", sql.Out{Dest: &text})); err != nil {
		t.Fatal(err)
	}
	if text != "héllo" {
		t.Fatalf("usp_ReadFileText %q", text)
	}

	stub(`{"path":"D:\\Models\\dir","exists":true,"isDirectory":true}`)
	var exists bool
	if _, err := db.ExecContext(ctx, "dbo.usp_DirectoryExists",
		sql.Named("DirectoryPath", `D:\Models\dir`), sql.Named("Exists", sql.Out{Dest: &exists})); err != nil {
		t.Fatal(err)
	}
	if !exists {
		t.Fatal("usp_DirectoryExists false on isDirectory true")
	}

	stub(`{"path":"D:\\Models","entries":[{"name":"a.bin","sizeBytes":3,"lastModified":"2026-11-26T10:00:00Z","isDirectory":false},{"name":"sub","sizeBytes":0,"lastModified":null,"isDirectory":true}]}`)
	rows, err := db.QueryContext(ctx, `EXEC dbo.usp_ListDirectory @DirectoryPath = @p1`, `D:\Models`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	if n != 2 {
		t.Fatalf("usp_ListDirectory returned %d rows, want 2", n)
	}
}

// maxOutputParams reports whether the engine binds an nvarchar(max) OUTPUT
// parameter (a throwaway procedure in tempdb's #scope).
func maxOutputParams(t *testing.T, db *sql.DB) bool {
	t.Helper()
	ctx := context.Background()
	c, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A new name each time: a pooled session (or the engine) may still
	// hold an earlier probe.
	name := fmt.Sprintf("#offload_probe_%d", time.Now().UnixNano())
	if _, err := c.ExecContext(ctx, "CREATE PROCEDURE "+name+" @x nvarchar(max) OUTPUT AS SET @x = N'ok';"); err != nil {
		t.Fatal(err)
	}
	defer c.ExecContext(ctx, "DROP PROCEDURE "+name+";")
	var got string
	err = c.QueryRowContext(ctx, "DECLARE @v nvarchar(max); EXEC "+name+" @x = @v OUTPUT; SELECT @v;").Scan(&got)
	return err == nil && got == "ok"
}
