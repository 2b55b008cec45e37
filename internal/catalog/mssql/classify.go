package mssql

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/hartonomous/offload/internal/catalog/internal/retry"
	mssqldb "github.com/microsoft/go-mssqldb"
	"github.com/microsoft/go-mssqldb/azuread"
	"github.com/microsoft/go-mssqldb/msdsn"
)

// transient are the error numbers Microsoft lists as transient for Azure SQL
// Database and SQL Managed Instance (sql-docs
// azure-sql/database/troubleshoot-common-errors-issues.md, "List of
// transient fault error codes"), with their retry class. Retry them "until
// the resources are available, and your connection is established again".
var transient = map[int32]retry.Class{
	926:   retry.Connection, // 'replicatedmaster' suspect during the last stage of a reconfiguration (MI)
	4060:  retry.Connection, // cannot open database requested by the login (it is coming back)
	4221:  retry.Connection, // login to read-secondary waiting for row versions
	40197: retry.Connection, // the service encountered an error (failover, upgrade); its embedded code says which
	40613: retry.Connection, // database not currently available
	615:   retry.Connection, // could not find database ID: stale cache after attach/detach
	// The resource governor ("Table of resource governance error messages"):
	// the work was refused, not lost. 40501: "retry the request after 10
	// seconds"; 10928/10936: the worker (request) or session limit of the
	// database or pool; 10929: its minimum guarantee; 49918-49920: not
	// enough resources / too many operations in progress.
	40501: retry.Throttled,
	10928: retry.Throttled,
	10929: retry.Throttled,
	10936: retry.Throttled,
	49918: retry.Throttled,
	49919: retry.Throttled,
	49920: retry.Throttled,
	// SQL Server's own: a deadlock victim (1205) and a lock request time
	// out (1222) are rolled back whole and worth running again.
	1205: retry.Connection,
	1222: retry.Connection,
}

// Classify is the catalog's retry classifier for go-mssqldb errors: an
// mssql.Error (also inside a ServerError, the fatal kind that severs the
// connection) by its Number; a StreamError (the TDS stream broke) and the
// network failures of retry.Network by their kind. An error the server sent
// as an answer means the statement did not run (Unsent); a broken stream
// may have lost only the answer.
func Classify(err error) retry.Fault {
	var se mssqldb.Error
	if errors.As(err, &se) {
		if c, ok := transient[se.Number]; ok {
			return retry.Fault{Class: c, Number: int(se.Number), Unsent: true}
		}
		return retry.Fault{Number: int(se.Number)}
	}
	if retry.IsUnsent(err) {
		f := retry.Network(err)
		f.Class, f.Unsent = retry.Connection, true // a connection that never logged in ran nothing
		return f
	}
	var st mssqldb.StreamError
	if errors.As(err, &st) || flattened(err) {
		return retry.Fault{Class: retry.Connection}
	}
	return retry.Network(err)
}

// networkWords are what is left of a network failure that go-mssqldb turned
// into plain text while reading a reply (badStreamPanicf, e.g. "Reading
// PLP type failed: read tcp …: connection reset by peer", a payload chunk
// cut mid-stream): the net.Error is gone, only the kernel's words remain.
var networkWords = []string{"connection reset by peer", "broken pipe", "use of closed network connection", "i/o timeout", "unexpected EOF"}

func flattened(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	for _, w := range networkWords {
		if strings.Contains(msg, w) {
			return true
		}
	}
	return false
}

// ServerName is the server a connection string names (host, port or
// instance), for logs and errors: never the user or the password.
func ServerName(dsn string) string {
	cfg, err := msdsn.Parse(dsn)
	if err != nil || cfg.Host == "" {
		return "(unparsed connection string)"
	}
	switch {
	case cfg.Instance != "":
		return cfg.Host + `\` + cfg.Instance
	case cfg.Port != 0:
		return net.JoinHostPort(cfg.Host, strconv.FormatUint(cfg.Port, 10))
	}
	return cfg.Host
}

// connector opens go-mssqldb connections and marks the errors of opening
// one (dial, pre-login, login) as unsent: no statement can have run on a
// connection that never logged in, so even an operation that must not run
// twice may be retried after them.
type connector struct{ driver.Connector }

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, retry.MarkUnsent(err)
	}
	return conn, nil
}

// newConnector is go-mssqldb's connector for dsn, Entra ID's for fedauth=.
func newConnector(dsn string) (driver.Connector, error) {
	var (
		c   driver.Connector
		err error
	)
	if driverFor(dsn) == "azuresql" {
		c, err = azuread.NewConnector(dsn)
	} else {
		c, err = mssqldb.NewConnector(dsn)
	}
	if err != nil {
		return nil, fmt.Errorf("connection string: %w", err)
	}
	return connector{c}, nil
}
