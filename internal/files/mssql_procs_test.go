package files_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"

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
	for round := 0; round < 2; round++ {
		for _, b := range files.Batches(script) {
			if _, err := db.ExecContext(ctx, b); err != nil {
				t.Fatalf("round %d: %v\n%s", round, err, b)
			}
		}
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
	var content []byte
	if _, err := db.ExecContext(ctx, `EXEC dbo.usp_ReadFileBytes @FilePath = @p1, @Content = @p2 OUTPUT`,
		`D:\Models\a.bin`, sql.Named("p2", sql.Out{Dest: &content})); err != nil {
		t.Fatal(err)
	}
	if string(content) != "\x01\x02\x03" {
		t.Fatalf("usp_ReadFileBytes content %x", content)
	}

	stub(`{"path":"D:\\Models\\t.txt","exists":true,"sizeBytes":5,"etag":"\"0x2\"","text":"héllo"}`)
	var text string
	if _, err := db.ExecContext(ctx, `EXEC dbo.usp_ReadFileText @FilePath = @p1, @Content = @p2 OUTPUT`,
		`D:\Models\t.txt`, sql.Named("p2", sql.Out{Dest: &text})); err != nil {
		t.Fatal(err)
	}
	if text != "héllo" {
		t.Fatalf("usp_ReadFileText %q", text)
	}

	stub(`{"path":"D:\\Models\\dir","exists":true,"isDirectory":true}`)
	var exists bool
	if _, err := db.ExecContext(ctx, `EXEC dbo.usp_DirectoryExists @DirectoryPath = @p1, @Exists = @p2 OUTPUT`,
		`D:\Models\dir`, sql.Named("p2", sql.Out{Dest: &exists})); err != nil {
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
