package files

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/location"
	"github.com/hartonomous/offload/internal/server"
)

// Request error codes (besides the path codes of path.go).
const (
	CodeUnknownOp         = "unknown_op"
	CodeMethod            = server.CodeMethodNotAllowed
	CodeMediaType         = "unsupported_media_type"
	CodeTooLarge          = "too_large"
	CodeResponseTooLarge  = "response_too_large"
	CodeBadJSON           = "bad_json"
	CodeUnknownField      = "unknown_field"
	CodeDuplicateField    = "duplicate_field"
	CodeFieldOrder        = "field_order"
	CodeConflictingFields = "conflicting_fields"
	CodeMissingContent    = "missing_content"
	CodeBadBase64         = "bad_base64"
	CodeBadEncoding       = "bad_encoding"
	CodeNotUTF8           = "not_utf8"
	CodeNotDirectory      = "not_a_directory"
	CodeExists            = "exists"
	CodePrecondition      = "precondition_failed"
	CodeChanged           = "changed"
	CodeAtomFile          = "atom_file"
	CodeStorage           = "storage_error"
	CodeCanceled          = "canceled"
)

// apiError is a refusal with its HTTP status and code; everything the
// handler refuses travels as one, so a refusal found deep in a stream (a bad
// base64 quantum inside Upload) still reaches the client as a 4xx.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// respond answers err as {"error","code"}. Storage and internal failures
// get a generic message (the detail is logged, it may hold account URLs).
func (s *Service) respond(c echo.Context, op string, err error) error {
	var (
		ae  *apiError
		pe  *location.PathError
		mbe *http.MaxBytesError
		ce  base64.CorruptInputError
		se  *syntaxError
	)
	switch {
	case errors.As(err, &ae):
		return server.Error(c, ae.status, ae.code, ae.msg)
	case errors.As(err, &pe):
		return server.Error(c, http.StatusBadRequest, pe.Code, pe.Error())
	case errors.As(err, &mbe):
		return server.Error(c, http.StatusRequestEntityTooLarge, CodeTooLarge,
			fmt.Sprintf("request body is over %d bytes", mbe.Limit))
	case errors.As(err, &ce):
		return server.Error(c, http.StatusBadRequest, CodeBadBase64,
			fmt.Sprintf("contentBase64 is not valid base64 (at byte %d of the decoded stream's input)", int64(ce)))
	case errors.As(err, &se):
		return server.Error(c, http.StatusBadRequest, CodeBadJSON, se.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return server.Error(c, http.StatusServiceUnavailable, CodeCanceled, "the request was canceled before it completed")
	case errors.Is(err, blobstore.ErrConflict):
		return server.Error(c, http.StatusPreconditionFailed, CodePrecondition, "the file changed (its ETag no longer matches)")
	}
	s.log.Error("files: request failed", "op", op, "err", err)
	return server.Error(c, http.StatusBadGateway, CodeStorage, "blob storage failed (see the handler's logs)")
}
