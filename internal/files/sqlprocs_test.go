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

// dropIns are Hartonomous' SQL CLR file functions as they were declared
// (CREATE FUNCTION dbo.clr_WriteFileText(@FilePath NVARCHAR(MAX), @Content
// NVARCHAR(MAX)) RETURNS BIGINT ...) and the parameter list each procedure
// must have: the function's parameters, same names, types and order, then
// its result as an OUTPUT parameter of the return type. So a call site
// changes in one line, positionally: SET @n = dbo.clr_WriteFileText(@p, @t)
// becomes EXEC dbo.usp_WriteFileText @p, @t, @n OUTPUT. (clr_ListDirectory
// had no CLR twin in Hartonomous: its procedure answers rows and JSON.)
var dropIns = []struct {
	proc   string
	params []string
}{
	{"usp_ReadFileBytes", []string{"@FilePath nvarchar(max)", "@Content varbinary(max) OUTPUT"}},
	{"usp_ReadFileText", []string{"@FilePath nvarchar(max)", "@Content nvarchar(max) OUTPUT"}},
	{"usp_WriteFileBytes", []string{"@FilePath nvarchar(max)", "@Content varbinary(max)", "@BytesWritten bigint = NULL OUTPUT"}},
	{"usp_WriteFileText", []string{"@FilePath nvarchar(max)", "@Content nvarchar(max)", "@BytesWritten bigint = NULL OUTPUT"}},
	{"usp_FileExists", []string{"@FilePath nvarchar(max)", "@Exists bit OUTPUT"}},
	{"usp_DirectoryExists", []string{"@DirectoryPath nvarchar(max)", "@Exists bit OUTPUT"}},
	{"usp_DeleteFile", []string{"@FilePath nvarchar(max)", "@Deleted bit OUTPUT"}},
	{"usp_ListDirectory", []string{"@DirectoryPath nvarchar(max)", "@Entries nvarchar(max) = NULL OUTPUT"}},
}

const testURL = "https://hartonomous-offload.azurewebsites.net"

func TestProcsSQL(t *testing.T) {
	script, err := ProcsSQL(ProcsParams{FunctionURL: testURL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`(N'FunctionUrl', N'https://hartonomous-offload.azurewebsites.net')`,
		`(N'FunctionCredential', N'https://hartonomous-offload.azurewebsites.net')`,
		"ALTER PROCEDURE dbo.usp_OffloadInvoke",
		"ALTER PROCEDURE dbo.usp_PublishMessageNow",
		"sys.sp_invoke_external_rest_endpoint",
		"@timeout = @timeout,",
		"CREATE FUNCTION dbo.ufn_OffloadBase64Decode",
		"CREATE FUNCTION dbo.ufn_OffloadBase64Encode",
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
	for _, d := range dropIns {
		if !slices.Contains(procs, d.proc) {
			t.Errorf("no batch creates dbo.%s", d.proc)
		}
		if got := procParams(script, d.proc); !slices.Equal(got, d.params) {
			t.Errorf("dbo.%s takes\n  %q\nwant the CLR function's\n  %q", d.proc, got, d.params)
		}
	}

	custom, err := ProcsSQL(ProcsParams{FunctionURL: "https://app.azurewebsites.net", Credential: "https://app.azurewebsites.net/api"})
	if err != nil || !strings.Contains(custom, `(N'FunctionCredential', N'https://app.azurewebsites.net/api')`) {
		t.Fatalf("custom credential: %v", err)
	}
	if _, err := ProcsSQL(ProcsParams{FunctionURL: "https://app.azurewebsites.net/prefix", Credential: "https://APP.azurewebsites.net/prefix"}); err != nil {
		t.Fatalf("host case: %v", err)
	}
}

// procParams is the parameter list of ALTER PROCEDURE dbo.<name>, one
// entry per parameter, whitespace collapsed.
func procParams(script, name string) []string {
	m := regexp.MustCompile(`(?s)ALTER PROCEDURE dbo\.` + name + `\s+(.*?)\nAS\n`).FindStringSubmatch(script)
	if m == nil {
		return nil
	}
	var out []string
	for _, p := range strings.Split(m[1], ",\n") {
		out = append(out, strings.Join(strings.Fields(p), " "))
	}
	return out
}

// Both base64 scripts define the same two functions; only the builtin one
// uses BASE64_*, only the XML one uses XML methods.
func TestBase64Forms(t *testing.T) {
	for _, f := range []Base64Form{Base64Builtin, Base64XML} {
		script, err := ProcsSQL(ProcsParams{FunctionURL: testURL, Base64: f})
		if err != nil {
			t.Fatal(err)
		}
		code := stripComments(script)
		for _, fn := range []string{"ufn_OffloadBase64Decode (@b64 varchar(max))\nRETURNS varbinary(max)", "ufn_OffloadBase64Encode (@bytes varbinary(max))\nRETURNS varchar(max)"} {
			if !strings.Contains(code, "CREATE FUNCTION dbo."+fn) {
				t.Errorf("%s: lacks CREATE FUNCTION dbo.%s", f, fn)
			}
		}
		builtin := strings.Contains(code, "BASE64_DECODE(") && strings.Contains(code, "BASE64_ENCODE(")
		xml := strings.Contains(code, "xs:base64Binary")
		if builtin != (f == Base64Builtin) || xml != (f == Base64XML) {
			t.Errorf("%s: BASE64_* used %v, XML used %v", f, builtin, xml)
		}
		// The procedures convert only through the two functions.
		procs := code[strings.Index(code, "dbo.OffloadSettings"):]
		if strings.Contains(procs, "BASE64_") || strings.Contains(procs, "xs:base64") {
			t.Errorf("%s: a procedure converts base64 itself", f)
		}
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
		if s, err := ProcsSQL(ProcsParams{FunctionURL: tc.url, Credential: tc.cred}); err == nil {
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
	for _, k := range ResultKeys {
		if !strings.Contains(sql, "FROM OPENJSON(@response, '$.result') AS r WHERE r.[key] = N'"+k+"'") {
			t.Errorf("no .sql reads $.result's %s as an OPENJSON row", k)
		}
	}
	// No OPENJSON WITH column and no JSON_VALUE reads a long member.
	for _, k := range ResultKeys {
		if strings.Contains(sql, "'$.result."+k+"'") {
			t.Errorf(".sql reads '$.result.%s' with a path: values over 4000 characters are lost", k)
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
		"signing.sql",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("credential template lacks %q", want)
		}
	}
	// One documented way: the functions are authLevel "function", so a
	// managed-identity credential alone gets 401 (functions' own test
	// holds the authLevel). Callers get no grant here (signing.sql).
	code := stripComments(s)
	for _, not := range []string{"Managed Identity", "GRANT"} {
		if strings.Contains(code, not) {
			t.Errorf("credential template runs %q", not)
		}
	}
}

func TestSigningSQL(t *testing.T) {
	script, err := SigningSQL(testURL, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ADD SIGNATURE TO OBJECT::dbo.usp_OffloadInvoke BY CERTIFICATE OffloadInvokeSigner;",
		"ALTER CERTIFICATE OffloadInvokeSigner REMOVE PRIVATE KEY;",
		"CREATE USER OffloadInvokeSigner FROM CERTIFICATE OffloadInvokeSigner;",
		"GRANT EXECUTE ANY EXTERNAL ENDPOINT TO OffloadInvokeSigner;",
		"GRANT REFERENCES ON DATABASE SCOPED CREDENTIAL::[" + testURL + "] TO OffloadInvokeSigner;",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("signing script lacks %q", want)
		}
	}
	// Callers' role: EXECUTE on exactly the public procedures.
	var granted []string
	for _, m := range regexp.MustCompile(`GRANT (\w+) ON OBJECT::dbo\.(\w+) TO offload_file_caller;`).FindAllStringSubmatch(script, -1) {
		if m[1] != "EXECUTE" {
			t.Errorf("the callers' role gets %s on %s", m[1], m[2])
		}
		granted = append(granted, m[2])
	}
	want := []string{"usp_PublishMessageNow"}
	for _, d := range dropIns {
		want = append(want, d.proc)
	}
	slices.Sort(want)
	slices.Sort(granted)
	if !slices.Equal(granted, want) {
		t.Errorf("offload_file_caller gets EXECUTE on %v, want %v", granted, want)
	}
	if n := strings.Count(stripComments(script), "offload_file_caller"); n != len(want)+2 {
		t.Errorf("offload_file_caller appears %d times: only its creation and its EXECUTE grants", n)
	}
	if _, err := SigningSQL(testURL, "https://other.azurewebsites.net"); err == nil {
		t.Error("a credential of another host was accepted")
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
