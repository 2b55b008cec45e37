package hostsim_test

import (
	"context"
	"database/sql"
	"net/url"
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
	"github.com/hartonomous/offload/internal/files"
)

// Least privilege, as far as the engine runs it: signing.sql's role gives a
// login EXECUTE on the public procedures, and on SQL Server that is enough
// to call them end to end (dbo.usp_OffloadInvoke and dbo.OffloadSettings
// are reached by ownership chaining, which the test engine lacks: there the
// chained call's refusal is checked to be exactly that); the same login
// cannot call dbo.usp_OffloadInvoke or read dbo.OffloadSettings itself. The certificate half of signing.sql
// (the right to call the endpoint travelling with the procedure) is parsed
// here, not run: docs/TSQL.md.
func TestLeastPrivilegeOnTSQL(t *testing.T) {
	w := setupTSQL(t)
	ctx := context.Background()
	script, err := files.SigningSQL(w.h.URL(), "")
	if err != nil {
		t.Fatal(err)
	}
	// The role and its grants run here; the certificate statements do not
	// (their grammar is TestSigningParsesOnTSQL's).
	for _, b := range files.Batches(script) {
		if _, err := w.db.ExecContext(ctx, b); err != nil {
			t.Logf("not run here: %v", err)
		}
	}

	login := "offload_caller_" + randomHex(t)[:8]
	password := "Pw1!" + randomHex(t)
	var dbName string
	if err := w.db.QueryRowContext(ctx, "SELECT DB_NAME()").Scan(&dbName); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		"CREATE LOGIN " + login + " WITH PASSWORD = '" + password + "';",
		"CREATE USER " + login + " FOR LOGIN " + login + ";",
		"ALTER ROLE offload_file_caller ADD MEMBER " + login + ";",
	} {
		if _, err := w.db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		// The login is server-wide: drop it even when the database goes.
		if _, err := w.db.ExecContext(context.Background(), "DROP USER IF EXISTS "+login+";"); err != nil {
			t.Log(err)
		}
		if _, err := w.db.ExecContext(context.Background(), "DROP LOGIN "+login+";"); err != nil {
			t.Log(err)
		}
	})
	caller := openAs(t, login, password, dbName)

	var version string
	if err := w.db.QueryRowContext(ctx, "SELECT @@VERSION").Scan(&version); err != nil {
		t.Fatal(err)
	}
	var e bool
	err = caller.QueryRowContext(ctx, `DECLARE @e bit; EXEC dbo.usp_DirectoryExists N'D:\Models', @e OUTPUT; SELECT @e;`).Scan(&e)
	switch {
	case err == nil:
	case strings.Contains(version, "Babelfish") && strings.Contains(err.Error(), "permission denied for procedure usp_offloadinvoke"):
		// Babelfish does not chain ownership from one procedure to
		// another (docs/TSQL.md): the chained call is SQL Server's.
		t.Logf("this engine has no ownership chaining between procedures: %v", err)
	default:
		t.Fatalf("a caller with EXECUTE on the procedures only: %v", err)
	}
	var r sql.NullString
	err = caller.QueryRowContext(ctx, `DECLARE @r nvarchar(max); EXEC dbo.usp_OffloadInvoke N'files/exists', N'{"path":"D:\\Models"}', @r OUTPUT; SELECT @r;`).Scan(&r)
	if err == nil {
		t.Error("the caller ran dbo.usp_OffloadInvoke itself (it must reach only the public procedures)")
	}
	var n int
	if err := caller.QueryRowContext(ctx, "SELECT COUNT(*) FROM dbo.OffloadSettings").Scan(&n); err == nil {
		t.Error("the caller read dbo.OffloadSettings")
	}
}

// openAs opens the test engine's database as another login.
func openAs(t *testing.T, login, password, database string) *sql.DB {
	t.Helper()
	u, err := url.Parse(mssqltest.DSN(t))
	if err != nil || !strings.EqualFold(u.Scheme, "sqlserver") {
		t.Fatalf("MSSQL_TEST_DSN must be a sqlserver:// URL here: %v", err)
	}
	u.User = url.UserPassword(login, password)
	q := u.Query()
	q.Set("database", database)
	u.RawQuery = q.Encode()
	db, err := sql.Open("sqlserver", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
