package tests

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog/sqlite"
	"github.com/hartonomous/offload/internal/config"
)

// Secrets that must never show in anything Offload prints or answers.
// They look real: an account key is 64 random bytes in base64, a SAS
// signature is an HMAC-SHA256 in base64, a password is a password.
var (
	fakeAccountKey = base64.StdEncoding.EncodeToString(sha512Sum("offload secrets test: account key"))
	fakeSASSig     = base64.StdEncoding.EncodeToString(sha256Sum("offload secrets test: sas"))
	sqlPassword    = "P4ssw0rd-SECRET"
	functionKey    = "fk-SECRET-" + base64.RawURLEncoding.EncodeToString(sha256Sum("function key"))
	bearerToken    = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.SECRET-TOKEN." + base64.RawURLEncoding.EncodeToString(sha256Sum("jwt"))
)

func sha512Sum(s string) []byte { h := sha512.Sum512([]byte(s)); return h[:] }
func sha256Sum(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// secretForms are the ways a secret could be printed: as is, URL-escaped
// (in a query string), and path-escaped.
func secretForms(secrets ...string) []string {
	var out []string
	for _, s := range secrets {
		out = append(out, s, url.QueryEscape(s), url.PathEscape(s))
		if len(s) > 24 {
			out = append(out, s[:24]) // a prefix (a clipped log line)
		}
	}
	return out
}

// accountSAS signs a real account SAS for blob and queue with Azurite's
// (public) dev key, so a SAS connection string works against it.
func accountSAS(t *testing.T) (query, sig string) {
	key, err := base64.StdEncoding.DecodeString(config.DevAccountKey)
	if err != nil {
		t.Fatal(err)
	}
	sv, sp, ss, srt, se, spr := "2019-12-12", "rwdlacup", "bq", "sco", "2035-01-01T00:00:00Z", "http"
	m := hmac.New(sha256.New, key)
	m.Write([]byte(strings.Join([]string{config.DevAccountName, sp, ss, srt, "", se, "", spr, sv, ""}, "\n")))
	sig = base64.StdEncoding.EncodeToString(m.Sum(nil))
	v := url.Values{"sv": {sv}, "ss": {ss}, "srt": {srt}, "sp": {sp}, "se": {se}, "spr": {spr}, "sig": {sig}}
	return v.Encode(), sig
}

func sasConnectionString(query string) string {
	return fmt.Sprintf("BlobEndpoint=http://127.0.0.1:%d/%s;QueueEndpoint=http://127.0.0.1:%d/%s;SharedAccessSignature=%s",
		az.BlobPort, config.DevAccountName, az.QueuePort, config.DevAccountName, query)
}

// leakCheck collects everything a run printed or answered and reports any
// secret found in it.
type leakCheck struct {
	t       *testing.T
	secrets []string
}

func (l leakCheck) check(what, text string) {
	l.t.Helper()
	for _, s := range l.secrets {
		if i := strings.Index(text, s); i >= 0 {
			lo, hi := max(0, i-120), min(len(text), i+len(s)+40)
			l.t.Errorf("%s leaks a secret (%q…): …%s…", what, s[:min(12, len(s))], text[lo:hi])
		}
	}
}

// cliRun runs every command once (verbose, so each step logs) and checks
// what they printed. With working settings every command but the one for an
// unknown segment succeeds; with failing storage the storage commands fail
// (so their failure paths are what was checked).
func (l leakCheck) cliRun(w *world, label string, storageWorks bool) {
	l.t.Helper()
	models := filepath.Join(w.dir, "models")
	for _, args := range [][]string{
		{"schema", "apply", "--verbose"},
		{"demo", "seed", "--small", "--files-dir", models, "--verbose"},
		{"segments", "enqueue", "--verbose"},
		{"segments", "migrate", "--workers", "2", "--verbose"},
		{"segments", "migrate", "--id", "999999", "--verbose"},
		{"segments", "verify", "--verbose"},
		{"segments", "status", "--verbose"},
		{"segments", "status", "--json"},
		{"segments", "release", "--verbose"},
		{"segments", "orphans", "--verbose"},
		{"models", "upload", "--from-catalog", "--verbose"},
		{"models", "link", "--verbose"},
		{"models", "verify", "--rehash", "--verbose"},
	} {
		out, errs, code := w.runBounded(2*time.Minute, args...)
		l.check(fmt.Sprintf("%s: offload %s (exit %d)", label, strings.Join(args, " "), code), out+errs)
		name := strings.Join(args[:2], " ")
		switch {
		case args[0] == "schema" || args[0] == "demo" || name == "segments status":
			if code != 0 {
				l.t.Errorf("%s: offload %s: exit %d\n%s", label, strings.Join(args, " "), code, errs)
			}
		case slices.Contains(args, "999999"):
			if code == 0 {
				l.t.Errorf("%s: migrating an unknown segment succeeded", label)
			}
		case storageWorks && code != 0:
			l.t.Errorf("%s: offload %s: exit %d\n%s", label, strings.Join(args, " "), code, errs)
		case !storageWorks && code == 0 && (name == "segments enqueue" || name == "segments migrate" || name == "models upload"):
			l.t.Errorf("%s: offload %s succeeded with storage that refuses us", label, strings.Join(args, " "))
		}
	}
}

// serveRun starts the handler and invokes every function, the failing
// ways too, checking the answers and the handler's output.
func (l leakCheck) serveRun(w *world, label string) {
	l.t.Helper()
	h := w.start()
	auth := []string{"x-functions-key", functionKey, "Authorization", "Bearer " + bearerToken}
	type call struct{ method, path, body string }
	var calls []call
	for _, id := range []string{"1", "2", "999999", `\"x\"`} {
		calls = append(calls, call{"POST", "/MigrateSegment",
			`{"Data":{"msg":"\"{\\\"segmentId\\\":` + id + `}\""},"Metadata":{"DequeueCount":"1","Id":"\"m-` + id + `\""}}`})
	}
	calls = append(calls,
		call{"POST", "/MigrateSegment", `not json`},
		call{"POST", "/VerifySegments", `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":true}},"Metadata":{}}`},
		call{"POST", "/api/segments/enqueue", `{"dryRun":true}`},
		call{"POST", "/api/segments/enqueue", `{}`},
		call{"POST", "/api/segments/enqueue", `{"limit":-1}`},
		call{"GET", "/api/segments/status", ``},
		call{"POST", "/api/segments/release", `{}`},
		call{"POST", "/api/files/write", `{"path":"D:\\Models\\secrets\\a.bin","contentBase64":"AAECAwQ="}`},
		call{"POST", "/api/files/write", `{"path":"D:\\Models\\secrets\\t.txt","text":"hello"}`},
		call{"POST", "/api/files/read", `{"path":"D:\\Models\\secrets\\a.bin"}`},
		call{"POST", "/api/files/read", `{"path":"D:\\Models\\secrets\\t.txt","encoding":"utf8"}`},
		call{"POST", "/api/files/exists", `{"path":"D:\\Models\\secrets"}`},
		call{"POST", "/api/files/list", `{"path":"D:\\Models\\secrets"}`},
		call{"POST", "/api/files/delete", `{"path":"D:\\Models\\secrets\\a.bin"}`},
		call{"POST", "/api/files/read", `{"path":"D:\\Models\\..\\..\\etc\\passwd"}`},
		call{"POST", "/api/files/write", `{"path":"D:\\Models\\secrets\\b.bin","contentBase64":"!!"}`},
		call{"POST", "/api/files/nosuchop", `{"path":"D:\\Models\\x"}`},
		call{"POST", "/api/messages/" + w.env["PUBLISH_QUEUES"], `{"event":"test"}`},
		call{"POST", "/api/messages/not-allowed", `{"a":1}`},
	)
	for _, c := range calls {
		code, body := h.do(l.t, c.method, c.path, "application/json", []byte(c.body), auth...)
		l.check(fmt.Sprintf("%s: %s %s answer (%d)", label, c.method, c.path, code), string(body))
	}
	if err := h.Stop(l.t, 30*time.Second); err != nil {
		l.t.Logf("%s: handler exit after SIGTERM: %v", label, err)
	}
	l.check(label+": handler stdout", h.Stdout.String())
	l.check(label+": handler stderr", h.Stderr.String())
}

// No secret of the settings, the requests or the connection strings ever
// shows in a command's output, the handler's logs or an answer: with
// working settings, with a wrong account key, with a SAS connection string
// (working, and with a forged signature), with SQL connection strings that
// cannot connect, and with malformed settings.
func TestSecretsNeverLogged(t *testing.T) {
	sasQuery, sasSig := accountSAS(t)
	all := secretForms(config.DevAccountKey, fakeAccountKey, fakeSASSig, sasSig, sqlPassword, functionKey, bearerToken)
	l := leakCheck{t: t, secrets: all}

	t.Run("working", func(t *testing.T) {
		w := newWorld(t)
		l := leakCheck{t: t, secrets: all}
		l.cliRun(w, "working", true)
		l.serveRun(w, "working")
	})

	t.Run("sas", func(t *testing.T) {
		w := newWorld(t)
		w.env["AzureWebJobsStorage"] = sasConnectionString(sasQuery)
		leakCheck{t: t, secrets: all}.sasRun(w)
	})

	t.Run("wrong-account-key", func(t *testing.T) {
		w := newWorld(t)
		w.env["AzureWebJobsStorage"] = strings.Replace(az.ConnectionString, config.DevAccountKey, fakeAccountKey, 1)
		l := leakCheck{t: t, secrets: all}
		l.cliRun(w, "wrong key", false)
		l.serveRun(w, "wrong key")
	})

	t.Run("forged-sas", func(t *testing.T) {
		w := newWorld(t)
		forged := strings.Replace(sasQuery, url.QueryEscape(sasSig), url.QueryEscape(fakeSASSig), 1)
		if forged == sasQuery {
			t.Fatal("could not forge the signature")
		}
		w.env["AzureWebJobsStorage"] = sasConnectionString(forged)
		l := leakCheck{t: t, secrets: all}
		l.cliRun(w, "forged sas", false)
		l.serveRun(w, "forged sas")
	})

	t.Run("sql-unreachable", func(t *testing.T) {
		for _, dsn := range []string{
			"sqlserver://user:" + sqlPassword + "@127.0.0.1:1/db?database=Hartonomous&connection+timeout=2",
			"server=127.0.0.1,1;user id=sa;password=" + sqlPassword + ";database=Hartonomous;connection timeout=2",
			"Server=tcp:127.0.0.1,1;Database=Hartonomous;User ID=sa;Pwd=" + sqlPassword + ";Encrypt=true;Connection Timeout=2",
		} {
			leakCheck{t: t, secrets: all}.sqlUnreachable(dsn)
		}
	})

	t.Run("malformed-settings", func(t *testing.T) {
		for _, cs := range []string{
			"AccountName=devstoreaccount1;AccountKey=" + fakeAccountKey + ";garbage-without-equals",
			"DefaultEndpointsProtocol=https;AccountKey=" + fakeAccountKey,
			"QueueEndpoint=http://127.0.0.1:1/x;AccountName=x;SharedAccessSignature=sv=2019-12-12&sig=" + url.QueryEscape(fakeSASSig),
		} {
			w := newWorld(t)
			w.env["AzureWebJobsStorage"] = cs
			w.env["SQL_CONNECTION_STRING"] = "sqlserver://user:" + sqlPassword + "@127.0.0.1:1/db"
			for _, args := range [][]string{{"segments", "status"}, {"serve"}} {
				out, errs, code := w.runBounded(time.Minute, args...)
				if code != 3 || !strings.Contains(errs, "AzureWebJobsStorage") {
					t.Errorf("offload %s with a malformed storage setting: exit %d, want 3 naming the setting:\n%s", args[0], code, errs)
				}
				l.check(fmt.Sprintf("malformed: offload %s (exit %d)", strings.Join(args, " "), code), out+errs)
			}
		}
	})
}

// sasRun: with a working SAS connection string the flow works (segments
// are migrated); the blob URI recorded in the catalog, which T-SQL reads,
// holds no secret either.
func (l leakCheck) sasRun(w *world) {
	t := l.t
	l.cliRun(w, "sas", true)
	out := w.mustRun("segments", "status", "--json")
	if !strings.Contains(out, `"verified"`) {
		t.Fatalf("with a working SAS connection string nothing was verified: %s", out)
	}
	l.serveRun(w, "sas")
	cat, err := sqlite.Open(context.Background(), filepath.Join(w.dir, "catalog.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	seg, err := cat.GetSegment(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	l.check("sas: BlobUri recorded in the catalog", seg.BlobURI)
	if u, err := url.Parse(seg.BlobURI); err != nil || u.RawQuery != "" || !strings.Contains(u.Path, "/"+w.env["TENSORS_CONTAINER"]+"/") || !strings.HasSuffix(u.Path, ".bin") {
		t.Errorf("sas: BlobUri %q is not a plain blob URL", seg.BlobURI)
	}
}

// sqlUnreachable: with a SQL server that does not answer, each command
// fails naming the server, and the handler stays up, failing what needs
// the catalog; no output holds the password.
func (l leakCheck) sqlUnreachable(dsn string) {
	t := l.t
	w := newWorld(t)
	w.env["SQL_CONNECTION_STRING"] = dsn
	for _, args := range [][]string{
		{"schema", "apply", "--verbose"}, {"segments", "status"}, {"segments", "enqueue", "--verbose"},
		{"segments", "migrate", "--verbose"}, {"segments", "verify"}, {"models", "link"},
	} {
		// A budget shorter than the first retry's wait: the
		// command fails after one attempt, naming the server.
		out, errs, code := w.runBounded(time.Minute, append(args, "--retry-budget", "1s")...)
		if code == 0 {
			t.Errorf("offload %s with an unreachable SQL server: exit 0", strings.Join(args, " "))
		}
		if !strings.Contains(errs, "127.0.0.1") {
			t.Errorf("offload %s with an unreachable SQL server does not name it:\n%s", strings.Join(args, " "), errs)
		}
		l.check(fmt.Sprintf("sql: offload %s (exit %d)", strings.Join(args, " "), code), out+errs)
	}
	// The handler stays up and ready; what needs the catalog fails
	// naming it, never its password.
	h := w.start()
	code, body := h.do(t, "GET", "/api/segments/status", "", nil)
	if code != 503 || !strings.Contains(string(body), "SQL_CONNECTION_STRING") {
		t.Errorf("status with an unreachable SQL server: %d %s", code, body)
	}
	l.check(fmt.Sprintf("sql: status answer (%d)", code), string(body))
	code, body = h.do(t, "POST", "/MigrateSegment", "application/json", []byte(`{"Data":{"msg":"\"{\\\"segmentId\\\":1}\""},"Metadata":{}}`))
	if code < 500 {
		t.Errorf("invocation with an unreachable SQL server: %d %s", code, body)
	}
	l.check(fmt.Sprintf("sql: invocation answer (%d)", code), string(body))
	if err := h.Stop(t, 30*time.Second); err != nil {
		t.Errorf("handler exit after SIGTERM: %v", err)
	}
	l.check("sql: handler stdout", h.Stdout.String())
	l.check("sql: handler stderr", h.Stderr.String())
}
