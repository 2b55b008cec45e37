package files_test

import (
	"context"
	"database/sql"
	"testing"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
	"github.com/hartonomous/offload/internal/files"
)

// On a T-SQL engine (MSSQL_TEST_DSN, a throwaway database): the base64
// form schema apply detects round-trips bytes through both functions, and
// the whole script, rendered with it, runs twice. Calling the procedures
// for real, through sp_invoke_external_rest_endpoint and the Function
// under the host simulator, is TestFileProcsOnTSQL (tests/hostsim).
func TestProcsOnTSQL(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlserver", mssqltest.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	form, err := files.DetectBase64(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("this engine converts base64 with %s", form)
	script, err := files.ProcsSQL(files.ProcsParams{FunctionURL: "https://offload-test.azurewebsites.net", Base64: form})
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
	for _, in := range [][]byte{{}, {0}, []byte("héllo\x00\xff"), make([]byte, 70000)} {
		var out []byte
		err := db.QueryRowContext(ctx, "SELECT dbo.ufn_OffloadBase64Decode(dbo.ufn_OffloadBase64Encode(@p1))", in).Scan(&out)
		if err != nil || string(out) != string(in) {
			t.Fatalf("base64 round trip of %d bytes: %d bytes, %v", len(in), len(out), err)
		}
	}
	var enc string
	if err := db.QueryRowContext(ctx, "SELECT dbo.ufn_OffloadBase64Encode(0x0AFF00)").Scan(&enc); err != nil || enc != "Cv8A" {
		t.Fatalf("ufn_OffloadBase64Encode(0x0AFF00) = %q, %v", enc, err)
	}
}
