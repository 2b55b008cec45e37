package blobstore

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
)

// serviceError is a storage response error reduced to one line. azcore's own
// message spans many lines (request, headers, body) and is unfit for the logs
// and per-item reports; the original stays reachable with errors.As.
type serviceError struct {
	kind   error // ErrNotFound, ErrConflict or nil
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

// normalize maps the service's answers onto ErrNotFound / ErrConflict and
// shortens response errors; other errors (network, context) pass unchanged.
func normalize(err error) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return err
	}
	e := &serviceError{status: re.StatusCode, code: re.ErrorCode, err: err}
	switch {
	case bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) || re.StatusCode == http.StatusNotFound:
		e.kind = ErrNotFound
	case bloberror.HasCode(err, bloberror.ConditionNotMet, bloberror.BlobAlreadyExists) ||
		re.StatusCode == http.StatusPreconditionFailed || re.StatusCode == http.StatusConflict:
		e.kind = ErrConflict
	}
	return e
}

// containerMissing tells a missing container from a missing blob.
func containerMissing(err error) bool {
	return bloberror.HasCode(err, bloberror.ContainerNotFound)
}
