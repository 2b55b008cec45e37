package retry

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"syscall"
)

// Network classifies the failures every network driver shares: a refused
// or failed dial (Unsent), and a connection reset, aborted or cut short
// after a request may have been sent (10053/10054 on Windows, ECONNRESET,
// EPIPE, EOF). driver.ErrBadConn is Unsent: database/sql and the drivers
// return it only when nothing was sent (go-mssqldb's RetryableError).
func Network(err error) Fault {
	var op *net.OpError
	switch {
	case err == nil:
		return Fault{}
	case errors.Is(err, driver.ErrBadConn):
		return Fault{Class: Connection, Unsent: true}
	case errors.As(err, &op) && op.Op == "dial":
		return Fault{Class: Connection, Unsent: true}
	case errors.Is(err, syscall.ECONNREFUSED):
		return Fault{Class: Connection, Unsent: true}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return Fault{Class: Connection}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Fault{Class: Connection} // a read that timed out: the request may have run
	}
	return Fault{}
}

// unsentError marks an error that happened before a statement could be sent
// (a connector's dial or login).
type unsentError struct{ err error }

func (e unsentError) Error() string { return e.err.Error() }
func (e unsentError) Unwrap() error { return e.err }

// MarkUnsent wraps err so that IsUnsent reports it: the dialects' connectors
// wrap the errors of opening a connection with it.
func MarkUnsent(err error) error {
	if err == nil {
		return nil
	}
	return unsentError{err}
}

// IsUnsent reports whether err was marked by MarkUnsent.
func IsUnsent(err error) bool {
	var u unsentError
	return errors.As(err, &u)
}
