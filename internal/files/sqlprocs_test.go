package files

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	sqlscripts "github.com/hartonomous/offload/sql"
)

var procedures = map[string]string{ // procedure → its path parameter
	"usp_ReadFileBytes":   "@FilePath",
	"usp_ReadFileText":    "@FilePath",
	"usp_WriteFileBytes":  "@FilePath",
	"usp_WriteFileText":   "@FilePath",
	"usp_FileExists":      "@FilePath",
	"usp_DirectoryExists": "@DirectoryPath",
	"usp_DeleteFile":      "@FilePath",
	"usp_ListDirectory":   "@DirectoryPath",
}

func TestProcsSQL(t *testing.T) {
	script, err := ProcsSQL("https://hartonomous-offload.azurewebsites.net/", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`(N'FunctionUrl', N'https://hartonomous-offload.azurewebsites.net')`,
		`(N'FunctionCredential', N'https://hartonomous-offload.azurewebsites.net')`,
		"ALTER PROCEDURE dbo.usp_OffloadInvoke",
		"ALTER PROCEDURE dbo.usp_PublishMessageNow",
		"sys.sp_invoke_external_rest_endpoint",
		"@timeout = 230",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("script lacks %q", want)
		}
	}
	if strings.Contains(script, "$(") {
		t.Error("script has an unrendered variable")
	}

	batches := Batches(script)
	var procs []string
	for bi, b := range batches {
		if strings.Contains(b, "\nGO\n") || strings.HasSuffix(b, "GO\n") {
			t.Errorf("batch keeps a GO line:\n%s", b)
		}
		// ALTER PROCEDURE must open its batch (comments aside), and the
		// batch before it creates the stub where the procedure is missing.
		if i := strings.Index(b, "ALTER PROCEDURE"); i >= 0 {
			for _, line := range strings.Split(b[:i], "\n") {
				if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "--") {
					t.Errorf("batch has %q before its ALTER PROCEDURE", l)
				}
			}
			name := strings.Fields(b[i+len("ALTER PROCEDURE"):])[0]
			stub := fmt.Sprintf("IF OBJECT_ID(N'%s', N'P') IS NULL\n    EXEC (N'CREATE PROCEDURE %s AS RETURN 0;');", name, name)
			if bi == 0 || !strings.HasSuffix(strings.TrimSpace(batches[bi-1]), stub) {
				t.Errorf("the batch before ALTER PROCEDURE %s does not create its stub", name)
			}
			procs = append(procs, strings.TrimPrefix(name, "dbo."))
		}
		if regexp.MustCompile(`(?i)\bMERGE\b`).MatchString(stripComments(b)) {
			t.Errorf("batch uses MERGE (never: UPDATE-then-INSERT instead):\n%s", b)
		}
		if strings.Contains(stripComments(b), "CREATE OR ALTER") {
			t.Errorf("batch uses CREATE OR ALTER (not on every T-SQL engine; stub + ALTER keeps grants too):\n%s", b)
		}
	}
	for p, param := range procedures {
		if !slices.Contains(procs, p) {
			t.Errorf("no batch creates dbo.%s", p)
		}
		if !regexp.MustCompile(`(?s)PROCEDURE dbo\.` + p + `\s+` + param + `\s+nvarchar\(4000\)`).MatchString(script) {
			t.Errorf("dbo.%s does not take %s nvarchar(4000) first", p, param)
		}
	}

	custom, err := ProcsSQL("https://app.azurewebsites.net", "https://app.azurewebsites.net/api")
	if err != nil || !strings.Contains(custom, `(N'FunctionCredential', N'https://app.azurewebsites.net/api')`) {
		t.Fatalf("custom credential: %v", err)
	}
	if _, err := ProcsSQL("https://app.azurewebsites.net/prefix", "https://APP.azurewebsites.net/prefix"); err != nil {
		t.Fatalf("host case: %v", err)
	}
}

func TestProcsSQLRefuses(t *testing.T) {
	for _, tc := range []struct{ url, cred string }{
		{"", ""},
		{"http://app.azurewebsites.net", ""},
		{"app.azurewebsites.net", ""},
		{"https://", ""},
		{"https://app.azurewebsites.net?code=secret", ""},
		{"https://app.azurewebsites.net#x", ""},
		{"https://user:pw@app.azurewebsites.net", ""},
		{"https://app.azurewebsites.net/api", ""},
		{"https://app.azurewebsites.net/api/files", ""},
		{"https://app.azurewebsites.net/'; DROP TABLE dbo.Atoms; --", ""},
		{"https://app.azurewebsites.net/x'y", ""},
		{"https://app.azurewebsites.net/[x]", ""},
		{"https://app.azurewebsites.net/\nGO", ""},
		{"https://app.azurewebsites.net/a/../b", ""},
		{"https://app.azurewebsites.net", "AppCredential"},
		{"https://app.azurewebsites.net", "https://other.azurewebsites.net"},
		{"https://app.azurewebsites.net", "http://app.azurewebsites.net"},
		{"https://app.azurewebsites.net", "https://app.azurewebsites.net/api/files"},
		{"https://app.azurewebsites.net/a", "https://app.azurewebsites.net/b"},
		{"https://app.azurewebsites.net", "https://app.azurewebsites.net/x'"},
		{"https://app.azurewebsites.net", "https://app.azurewebsites.net]; DROP"},
		{"https://app.azurewebsites.net", "https://app.azurewebsites.net?k=v"},
		{"https://app.azurewebsites.net", "https://app.azurewebsites.net/" + strings.Repeat("a", 128)},
	} {
		if s, err := ProcsSQL(tc.url, tc.cred); err == nil {
			t.Errorf("ProcsSQL(%q, %q) accepted:\n%.200s", tc.url, tc.cred, s)
		}
	}
}

func TestBatches(t *testing.T) {
	script := "-- head\nSELECT 1;\nGO\n\ngo\r\nSELECT 2;\n  GO  \nSELECT 'GO';\nGOTO done;\nGO -- end of batch 3\nSELECT 4\n"
	got := Batches(script)
	want := []string{
		"-- head\nSELECT 1;\n",
		"SELECT 2;\n",
		"SELECT 'GO';\nGOTO done;\n",
		"SELECT 4\n",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Batches = %q\nwant      %q", got, want)
	}
	if got := Batches("\n  \nGO\n"); len(got) != 0 {
		t.Fatalf("blank script gave %q", got)
	}
}

// TestSQLPathsMatchScripts keeps ResponsePaths/EntryPaths (which the
// procedure emulators of procs_test.go evaluate against real answers) and
// the JSON paths the shipped .sql files spell in step, both ways.
func TestSQLPathsMatchScripts(t *testing.T) {
	var text strings.Builder
	for _, name := range []string{sqlscripts.FileProcs, sqlscripts.PublishNowProcs} {
		b, err := sqlscripts.Scripts.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		text.Write(b)
	}
	sql := text.String()
	known := append(append([]string(nil), ResponsePaths...), EntryPaths...)
	for _, p := range known {
		if !strings.Contains(sql, "'"+p+"'") {
			t.Errorf("no .sql reads '%s'", p)
		}
	}
	for _, m := range regexp.MustCompile(`'(\$\.[^']*)'`).FindAllStringSubmatch(sql, -1) {
		if !slices.Contains(known, m[1]) {
			t.Errorf(".sql reads '%s', which ResponsePaths/EntryPaths do not list", m[1])
		}
	}
	// Payloads are built with FOR JSON, never by concatenating values.
	for _, line := range strings.Split(sql, "\n") {
		if strings.Contains(line, "SET @payload") && !strings.Contains(line, "FOR JSON PATH, WITHOUT_ARRAY_WRAPPER") {
			t.Errorf("payload not built with FOR JSON: %s", strings.TrimSpace(line))
		}
	}
	if n := strings.Count(sql, "sp_invoke_external_rest_endpoint\n"); n != 1 {
		t.Errorf("sp_invoke_external_rest_endpoint is called %d times: only usp_OffloadInvoke should call it", n)
	}
}

func TestCredentialTemplate(t *testing.T) {
	b, err := sqlscripts.Scripts.ReadFile(sqlscripts.CredentialTemplate)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{
		"CREATE DATABASE SCOPED CREDENTIAL [$(FunctionUrl)]",
		"IDENTITY = 'HTTPEndpointHeaders'",
		`SECRET = '{"x-functions-key":"<function key>"}'`,
		"IDENTITY = 'Managed Identity'",
		`SECRET = '{"resourceid":"<application id URI or client id>"}'`,
		"GRANT REFERENCES ON DATABASE SCOPED CREDENTIAL::[$(FunctionUrl)]",
		"GRANT EXECUTE ANY EXTERNAL ENDPOINT",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("credential template lacks %q", want)
		}
	}
}

// stripComments drops "--" comments, line by line.
func stripComments(batch string) string {
	var code []string
	for _, line := range strings.Split(batch, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		code = append(code, line)
	}
	return strings.Join(code, "\n")
}
