package engines

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestOpenSQLite(t *testing.T) {
	cat, err := Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	if cat.Dialect() != "sqlite" {
		t.Fatalf("dialect %q", cat.Dialect())
	}
}

func TestOpenErrorsDoNotEchoSecrets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const secret = "S3cr3t-P@ss;word"
	for _, dsn := range []string{
		// Nothing listens on port 1 of localhost: the connection fails fast.
		"sqlserver://sa:" + "S3cr3t-P%40ss%3Bword" + "@127.0.0.1:1?database=x&connection+timeout=2",
		"server=127.0.0.1,1;user id=sa;password={" + secret + "};database=x;connection timeout=2",
		"server=127.0.0.1,1;user id=sa;password=" + "plainPassw0rd" + ";connection timeout=2",
		"sqlserver://sa:pw@127.0.0.1:1?database=x&port=notaport&password=" + "qsecret99",
	} {
		// A budget shorter than the first wait: one attempt, then the
		// error that names the server.
		_, err := OpenWith(ctx, dsn, Options{RetryBudget: time.Nanosecond})
		if err == nil {
			t.Fatalf("opening an unreachable server succeeded")
		}
		if !strings.Contains(dsn, "notaport") && !strings.Contains(err.Error(), "SQL_CONNECTION_STRING's server 127.0.0.1:1") {
			t.Errorf("the error does not name the server: %v", err)
		}
		for _, s := range []string{dsn, secret, "S3cr3t-P%40ss%3Bword", "plainPassw0rd", "qsecret99"} {
			if strings.Contains(err.Error(), s) {
				t.Fatalf("error echoes a secret %q: %v", s, err)
			}
		}
	}
	if _, err := Open(ctx, ""); err == nil {
		t.Fatal("empty connection string accepted")
	}
	if _, err := Open(ctx, "sqlite:"); err == nil {
		t.Fatal("sqlite: without a path accepted")
	}
}
