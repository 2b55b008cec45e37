package files

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	sqlscripts "github.com/hartonomous/offload/sql"
)

// ResponsePaths are the JSON paths the shipped procedures read from
// sp_invoke_external_rest_endpoint's @response, which wraps a function's
// answer as {"response":{"status":{"http":{"code":…}},"headers":{…}},
// "result":<answer>}. sql/*.sql spells each one as a literal; tests hold
// the list, the scripts and the handlers' answers together.
var ResponsePaths = []string{
	"$.response.status.http.code",
	"$.result",
	"$.result.code",
	"$.result.error",
	"$.result.exists",
	"$.result.isDirectory",
	"$.result.bytesWritten",
	"$.result.deleted",
	"$.result.entries",
	"$.result.messageId",
}

// ResultKeys are the members of $.result read as rows of
// OPENJSON(@response, '$.result') (key, value), not with JSON_VALUE or an
// OPENJSON WITH column: they can be longer than 4,000 characters, where
// JSON_VALUE gives NULL and some engines cut a WITH column.
var ResultKeys = []string{"contentBase64", "text"}

// EntryPaths are the paths usp_ListDirectory reads in each element of
// $.result.entries.
var EntryPaths = []string{"$.name", "$.sizeBytes", "$.lastModified", "$.isDirectory"}

// Template variables (sqlcmd syntax, so the scripts also run with sqlcmd -v).
const (
	varFunctionURL = "$(FunctionUrl)"
	varCredential  = "$(FunctionCredential)"
)

// Base64Form says how the procedures convert base64: with the database's
// BASE64_ENCODE / BASE64_DECODE (Azure SQL Database, SQL Server 2025) or
// with XML's xs:base64Binary (SQL Server 2019 and 2022). DetectBase64 asks
// a database which it has.
type Base64Form int

const (
	Base64XML Base64Form = iota
	Base64Builtin
)

func (f Base64Form) String() string {
	if f == Base64Builtin {
		return "BASE64_ENCODE/BASE64_DECODE"
	}
	return "XML xs:base64Binary"
}

func (f Base64Form) script() string {
	if f == Base64Builtin {
		return sqlscripts.Base64Builtin
	}
	return sqlscripts.Base64XML
}

// ProcsParams say which Function App the procedures call, and how.
type ProcsParams struct {
	// FunctionURL is the app's base URL, e.g.
	// https://myapp.azurewebsites.net: https, with no query, fragment or
	// user info.
	FunctionURL string
	// Credential names the DATABASE SCOPED CREDENTIAL ("": the function URL
	// itself, the usual name, as sp_invoke_external_rest_endpoint matches
	// credentials to URLs by name). A URL whose scheme and host are the
	// function's and whose path is a whole-segment prefix of
	// {FunctionURL}/api, at most 128 characters (sysname).
	Credential string
	// Base64 picks the base64 functions' script.
	Base64 Base64Form
}

// ProcsSQL renders, in order, the base64 functions (sql/base64-*.sql), the
// file procedures (sql/file-procs.sql) and dbo.usp_PublishMessageNow
// (sql/publish-now-procs.sql) for the Function App p names. The URL and
// credential name are checked, then written into the script as escaped
// T-SQL literals.
func ProcsSQL(p ProcsParams) (string, error) {
	base, err := checkFunctionURL(p.FunctionURL)
	if err != nil {
		return "", err
	}
	cred := base.String()
	if p.Credential != "" {
		if cred, err = checkCredential(base, p.Credential); err != nil {
			return "", err
		}
	}
	return render([]string{p.Base64.script(), sqlscripts.FileProcs, sqlscripts.PublishNowProcs}, strings.NewReplacer(
		varFunctionURL, sqlLiteralBody(base.String()),
		varCredential, sqlLiteralBody(cred),
	))
}

// SigningSQL renders sql/signing.sql for the credential named credential
// (as ProcsParams.Credential, or the function URL): the callers' role, and
// the certificate that signs dbo.usp_OffloadInvoke and holds the right to
// call the endpoint with that credential. It holds no secret.
func SigningSQL(functionURL, credential string) (string, error) {
	base, err := checkFunctionURL(functionURL)
	if err != nil {
		return "", err
	}
	cred := base.String()
	if credential != "" {
		if cred, err = checkCredential(base, credential); err != nil {
			return "", err
		}
	}
	// The name goes between [ ]: checkChars already refused brackets.
	return render([]string{sqlscripts.Signing}, strings.NewReplacer(varCredential, cred))
}

// render concatenates the embedded scripts names and fills their variables.
func render(names []string, vars *strings.Replacer) (string, error) {
	var b strings.Builder
	for _, name := range names {
		text, err := sqlscripts.Scripts.ReadFile(name)
		if err != nil {
			return "", fmt.Errorf("files: embedded %s: %w", name, err)
		}
		b.Write(text)
		if !strings.HasSuffix(b.String(), "\n") {
			b.WriteByte('\n')
		}
	}
	script := vars.Replace(b.String())
	if strings.Contains(script, "$(") {
		return "", errors.New("files: procedure script has an unrendered $(…) variable")
	}
	return script, nil
}

// unsafeURLChars are refused in the URL and credential name, whatever URL
// parsing allows: quotes and brackets delimit T-SQL literals and
// identifiers, the rest have no place in a Function App's base URL.
const unsafeURLChars = "'\"[]`;\\<>{}|^ "

func checkFunctionURL(s string) (*url.URL, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("function URL is empty (e.g. https://myapp.azurewebsites.net)")
	}
	if err := checkChars("function URL", s); err != nil {
		return nil, err
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("function URL %q: %v", s, err)
	}
	switch {
	case u.Scheme != "https":
		return nil, fmt.Errorf("function URL %q must be https (sp_invoke_external_rest_endpoint calls only https)", s)
	case u.Host == "" || u.Opaque != "":
		return nil, fmt.Errorf("function URL %q has no host", s)
	case u.User != nil:
		return nil, fmt.Errorf("function URL %q must not hold user info", s)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return nil, fmt.Errorf("function URL %q must not have a query or fragment (the key goes in the credential)", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	if strings.HasSuffix(u.Path, "/api") || strings.Contains(u.Path, "/api/") {
		return nil, fmt.Errorf("function URL %q: give the app's base URL, without /api", s)
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return nil, fmt.Errorf("function URL %q has a relative segment", s)
		}
	}
	if len(u.String()) > 3800 {
		return nil, fmt.Errorf("function URL is %d characters long", len(u.String()))
	}
	return u, nil
}

func checkCredential(base *url.URL, name string) (string, error) {
	name = strings.TrimSpace(name)
	if err := checkChars("credential name", name); err != nil {
		return "", err
	}
	if n := utf8.RuneCountInString(name); n > 128 {
		return "", fmt.Errorf("credential name is %d characters: a sysname holds 128", n)
	}
	u, err := url.Parse(name)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("credential name %q must be a URL (sp_invoke_external_rest_endpoint matches credentials to the called URL by name)", name)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("credential name %q must not have a query, fragment or user info", name)
	}
	if !strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Host, base.Host) {
		return "", fmt.Errorf("credential name %q must have the scheme and host of the function URL %s", name, base)
	}
	want := segments(base.Path + "/api")
	got := segments(u.Path)
	if len(got) > len(want) {
		return "", fmt.Errorf("credential name %q is more specific than %s/api: it would not cover both api/files and api/messages", name, base)
	}
	for i := range got {
		if got[i] != want[i] {
			return "", fmt.Errorf("credential name %q is not a prefix of %s/api", name, base)
		}
	}
	return name, nil
}

func segments(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func checkChars(what, s string) error {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(unsafeURLChars, r) {
			return fmt.Errorf("%s %q has the character %q, which is not allowed", what, s, r)
		}
	}
	return nil
}

// sqlLiteralBody escapes s for use between N'…': quotes are doubled (the
// checks above already refuse them; this keeps the rendering safe on its
// own).
func sqlLiteralBody(s string) string { return strings.ReplaceAll(s, "'", "''") }

var goLine = regexp.MustCompile(`(?i)^[ \t]*GO[ \t]*(?:--.*)?$`)

// Batches splits a script into the batches sqlcmd would send, on lines
// holding only GO (any case, optional trailing comment). Batches of only
// whitespace are dropped. database/sql cannot send GO: each batch is one
// Exec.
func Batches(script string) []string {
	var (
		out []string
		cur strings.Builder
	)
	flush := func() {
		if strings.TrimSpace(cur.String()) != "" {
			out = append(out, strings.TrimSpace(cur.String())+"\n")
		}
		cur.Reset()
	}
	for _, line := range strings.Split(strings.ReplaceAll(script, "\r\n", "\n"), "\n") {
		if goLine.MatchString(line) {
			flush()
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return out
}
