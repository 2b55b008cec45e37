package mssql

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/hartonomous/offload/internal/catalog/internal/retry"
	mssqldb "github.com/microsoft/go-mssqldb"
)

// The classification by error kind; the wire forms (go-mssqldb reading
// the ERROR tokens of the TDS proxy) are tested on T-SQL in
// internal/catalog/internal/retry.
func TestClassify(t *testing.T) {
	reset := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	for _, tc := range []struct {
		name string
		err  error
		want retry.Fault
	}{
		{"failover", fmt.Errorf("mssql: claim 1: %w", mssqldb.Error{Number: 40613}), retry.Fault{Class: retry.Connection, Number: 40613, Unsent: true}},
		{"fatal throttling", mssqldb.ServerError{}, retry.Fault{}},
		{"throttled", mssqldb.Error{Number: 10928}, retry.Fault{Class: retry.Throttled, Number: 10928, Unsent: true}},
		{"constraint", mssqldb.Error{Number: 2627}, retry.Fault{Number: 2627}},
		{"reset after sending", fmt.Errorf("mssql: x: %w", reset), retry.Fault{Class: retry.Connection}},
		{"reset flattened to text", errors.New("Reading PLP type failed: read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer"), retry.Fault{Class: retry.Connection}},
		{"stream", mssqldb.StreamError{InnerError: errors.New("bad")}, retry.Fault{Class: retry.Connection}},
		{"login refused", retry.MarkUnsent(fmt.Errorf("unable to open tcp connection: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED})), retry.Fault{Class: retry.Connection, Unsent: true}},
		{"login reset", retry.MarkUnsent(errors.New("login error: EOF")), retry.Fault{Class: retry.Connection, Unsent: true}},
		{"bad input", errors.New("catalog: claim 1: empty token"), retry.Fault{}},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestServerName(t *testing.T) {
	for dsn, want := range map[string]string{
		"sqlserver://sa:secret@db.example.net:1433?database=h":       "db.example.net:1433",
		"server=tcp:db.example.net,1444;user id=sa;password=secret;": "db.example.net:1444",
		`sqlserver://sa:secret@host/SQLEXPRESS?database=h`:           `host\SQLEXPRESS`,
	} {
		if got := ServerName(dsn); got != want {
			t.Errorf("ServerName(%q) = %q, want %q", dsn, got, want)
		}
	}
}
