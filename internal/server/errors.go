package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
)

// ErrorBody is every error response of the server and of the HTTP functions.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// failureKey holds, in the echo.Context, the reason a request failed, for
// the invocation log line.
const failureKey = "offload.failure"

// serverKey holds, in the echo.Context, the Server answering the request.
const serverKey = "offload.server"

// Error answers {"error": msg, "code": code} with status and records msg as
// the reason for the request's log line. Handlers return its result:
//
//	return server.Error(c, http.StatusBadRequest, "bad_request", "path is empty")
//
// A server error (5xx) of a request stopped at its invocation deadline
// says so, with what did not answer.
func Error(c echo.Context, status int, code, msg string) error {
	if status >= 500 {
		if s, ok := c.Get(serverKey).(*Server); ok {
			if why := s.deadlineReason(c.Request().Context()); why != "" {
				msg += ": " + why
			}
		}
	}
	c.Set(failureKey, msg)
	if c.Request().Method == http.MethodHead {
		return c.NoContent(status)
	}
	return c.JSON(status, ErrorBody{Error: msg, Code: code})
}

// CodeMethodNotAllowed is the error code of a 405, whoever answers it.
const CodeMethodNotAllowed = "method_not_allowed"

// RequirePOST answers 405 method_not_allowed, with Allow: POST, unless the
// request is a POST: the T-SQL-facing functions take only POST, and say so
// in their own JSON error rather than Echo's. ok reports whether the
// handler may go on; otherwise it returns err.
func RequirePOST(c echo.Context) (ok bool, err error) {
	if m := c.Request().Method; m != http.MethodPost {
		c.Response().Header().Set("Allow", http.MethodPost)
		return false, Error(c, http.StatusMethodNotAllowed, CodeMethodNotAllowed, m+" is not allowed: use POST")
	}
	return true, nil
}

// notImplemented answers a function that is not set.
func notImplemented(function string) echo.HandlerFunc {
	return func(c echo.Context) error {
		return Error(c, http.StatusNotImplemented, "not_implemented", function+" is not implemented yet")
	}
}

// errPanic stands for a recovered panic; its details go to the logs only.
var errPanic = errors.New("panic")

// handleError is the Echo HTTPErrorHandler: every error a handler returns
// (rather than answering with Error) becomes ErrorBody JSON with the right
// status. Errors that are not HTTP errors are answered 500 without their
// text, which may hold internals; the text is logged.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		s.log.Warn("error after the response was sent", "path", c.Request().URL.Path,
			"invocationId", InvocationID(c.Request().Context()), "err", err)
		return
	}
	status, code, msg, cause := s.classify(err, c)
	if werr := Error(c, status, code, msg); werr != nil {
		s.log.Warn("could not write the error response", "err", werr)
	}
	if cause != "" {
		c.Set(failureKey, cause) // logged, not sent
	}
}

// classify maps an error to its response, and to the cause to log when the
// response does not say it.
func (s *Server) classify(err error, c echo.Context) (status int, code, msg, cause string) {
	var he *echo.HTTPError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body is over %d bytes", mbe.Limit), ""
	case errors.As(err, &he):
		status = he.Code
		msg = http.StatusText(status)
		if m, ok := he.Message.(string); ok && m != "" {
			msg = m
		}
		switch status {
		case http.StatusNotFound:
			msg = fmt.Sprintf("no function at %s %s", c.Request().Method, c.Request().URL.Path)
		case http.StatusMethodNotAllowed:
			msg = fmt.Sprintf("%s is not allowed on %s", c.Request().Method, c.Request().URL.Path)
		}
		if he.Internal != nil {
			cause = msg + ": " + he.Internal.Error()
		}
		return status, statusCode(status), msg, cause
	case errors.Is(err, errPanic):
		return http.StatusInternalServerError, "internal", "internal error (see the handler's logs)", err.Error()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "canceled", "the request was canceled before it completed", err.Error()
	default:
		return http.StatusInternalServerError, "internal", "internal error (see the handler's logs)", err.Error()
	}
}

// statusCode is the error code for an HTTP status.
func statusCode(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return CodeMethodNotAllowed
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusTooManyRequests:
		return "too_many_requests"
	case http.StatusNotImplemented:
		return "not_implemented"
	case http.StatusServiceUnavailable:
		return CodeUnavailable
	case http.StatusLengthRequired:
		return CodeLengthRequired
	}
	if status >= 500 {
		return "internal"
	}
	return "bad_request"
}
