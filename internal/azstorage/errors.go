package azstorage

import (
	"errors"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
)

// serviceError is a storage response error reduced to one line. azcore's own
// message spans many lines (request, headers, body) and is unfit for the logs
// and per-item reports; the original stays reachable with errors.As.
type serviceError struct {
	kind   error // the caller's sentinel (ErrNotFound, …) or nil
	status int
	code   string
	err    error
}

func (e *serviceError) Error() string {
	msg := fmt.Sprintf("HTTP %d %s", e.status, e.code)
	if e.kind != nil {
		return e.kind.Error() + " (" + msg + ")"
	}
	return "storage service: " + msg
}

func (e *serviceError) Unwrap() []error {
	if e.kind != nil {
		return []error{e.kind, e.err}
	}
	return []error{e.err}
}

// Normalize shortens a service response error to one line and, when
// classify names a sentinel for it, makes it match that sentinel with
// errors.Is. Other errors (network, context) and nil pass unchanged.
func Normalize(err error, classify func(err error, re *azcore.ResponseError) error) error {
	var re *azcore.ResponseError
	if err == nil || !errors.As(err, &re) {
		return err
	}
	return &serviceError{kind: classify(err, re), status: re.StatusCode, code: re.ErrorCode, err: err}
}
