package faultproxy

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestErrorBodyIsStorageXML(t *testing.T) {
	body := errorBody(codeServerBusy, msgServerBusy, "0f8d-id", time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC))
	// The service starts its XML with a UTF-8 byte order mark.
	xmlBody, ok := bytes.CutPrefix(body, []byte("\ufeff"))
	if !ok {
		t.Fatalf("body does not start with a BOM: %q", body)
	}
	var e struct {
		Code    string
		Message string
	}
	if err := xml.Unmarshal(xmlBody, &e); err != nil {
		t.Fatalf("body is not XML: %v\n%s", err, body)
	}
	if e.Code != "ServerBusy" {
		t.Errorf("Code = %q", e.Code)
	}
	want := msgServerBusy + "\nRequestId:0f8d-id\nTime:2024-05-06T07:08:09.0000000Z"
	if e.Message != want {
		t.Errorf("Message = %q, want %q", e.Message, want)
	}
}

func TestWriteStorageErrorHeaders(t *testing.T) {
	r := httptest.NewRequest(http.MethodPut, "/devstoreaccount1/c/b", strings.NewReader("x"))
	r.Header.Set("x-ms-version", "2025-01-05")
	r.Header.Set("x-ms-client-request-id", "client-1")
	w := httptest.NewRecorder()
	writeStorageError(w, r, http.StatusServiceUnavailable, codeServerBusy, msgServerBusy)
	res := w.Result()
	if res.StatusCode != 503 {
		t.Errorf("status %d", res.StatusCode)
	}
	for k, want := range map[string]string{
		"x-ms-error-code": "ServerBusy", "x-ms-version": "2025-01-05",
		"x-ms-client-request-id": "client-1", "Content-Type": "application/xml",
	} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if res.Header.Get("x-ms-request-id") == "" {
		t.Error("no x-ms-request-id")
	}
	if !strings.Contains(w.Body.String(), "<Code>ServerBusy</Code>") {
		t.Errorf("body %q", w.Body.String())
	}

	head := httptest.NewRecorder()
	writeStorageError(head, httptest.NewRequest(http.MethodHead, "/devstoreaccount1/c/b", nil), 500, codeInternalError, msgInternalError)
	if head.Body.Len() != 0 || head.Result().Header.Get("x-ms-error-code") != "InternalError" {
		t.Errorf("HEAD answer: body %q, code %q", head.Body.String(), head.Result().Header.Get("x-ms-error-code"))
	}
}
