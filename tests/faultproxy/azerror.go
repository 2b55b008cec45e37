package faultproxy

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Error answers as Azure Storage sends them (blob and queue services alike):
// the code in the x-ms-error-code header and again in an XML body, the
// message followed by the request id and time on their own lines.
// The SDKs read the code from the header first, the body second.
const (
	codeServerBusy = "ServerBusy"
	// msgServerBusy is the account-level throttling message; the service
	// also says "Ingress/Egress is over the account limit." for bandwidth.
	msgServerBusy     = "Operations per second is over the account limit."
	codeInternalError = "InternalError"
	msgInternalError  = "The server encountered an internal error. Please retry the request."
)

// errorBody is the XML body of a storage error answer.
func errorBody(code, message, requestID string, now time.Time) []byte {
	return fmt.Appendf(nil, "\ufeff<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>%s</Code><Message>%s\nRequestId:%s\nTime:%s</Message></Error>",
		code, message, requestID, now.UTC().Format("2006-01-02T15:04:05.0000000Z"))
}

// writeStorageError answers r with a storage error, echoing the headers the
// service echoes. HEAD answers carry no body, as the service's don't.
func writeStorageError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	id := requestID()
	now := time.Now()
	body := errorBody(code, message, id, now)
	h := w.Header()
	h.Set("Content-Type", "application/xml")
	h.Set("x-ms-error-code", code)
	h.Set("x-ms-request-id", id)
	h.Set("Date", now.UTC().Format(http.TimeFormat))
	if v := r.Header.Get("x-ms-version"); v != "" {
		h.Set("x-ms-version", v)
	}
	if v := r.Header.Get("x-ms-client-request-id"); v != "" {
		h.Set("x-ms-client-request-id", v)
	}
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(status)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// requestID is a random id shaped like the service's (a GUID).
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
