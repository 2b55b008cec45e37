package azstorage

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

func TestRetryDefaults(t *testing.T) {
	r := RetryOptions(policy.RetryOptions{})
	if r.MaxRetries != 5 || r.TryTimeout != 2*time.Minute || r.RetryDelay != 500*time.Millisecond || r.MaxRetryDelay != 30*time.Second {
		t.Fatalf("defaults %+v", r)
	}
	r = RetryOptions(policy.RetryOptions{MaxRetries: -1, TryTimeout: time.Second})
	if r.MaxRetries != -1 || r.TryTimeout != time.Second || r.RetryDelay != 500*time.Millisecond {
		t.Fatalf("given values not kept: %+v", r)
	}
	if co := (Options{}).ClientOptions(); co.Retry.MaxRetries != DefaultMaxRetries || co.Transport != nil {
		t.Fatalf("client options %+v", co)
	}
}

var errGone = errors.New("gone")

func TestNormalize(t *testing.T) {
	classify := func(_ error, re *azcore.ResponseError) error {
		if re.StatusCode == http.StatusNotFound {
			return errGone
		}
		return nil
	}
	resp := func(status int, code string) error {
		return &azcore.ResponseError{StatusCode: status, ErrorCode: code, RawResponse: &http.Response{StatusCode: status}}
	}
	nf := Normalize(resp(404, "BlobNotFound"), classify)
	if !errors.Is(nf, errGone) || nf.Error() != "gone (HTTP 404 BlobNotFound)" {
		t.Fatalf("404: %v", nf)
	}
	var re *azcore.ResponseError
	if !errors.As(nf, &re) || re.ErrorCode != "BlobNotFound" {
		t.Fatalf("the response error is not reachable: %v", nf)
	}
	busy := Normalize(resp(503, "ServerBusy"), classify)
	if errors.Is(busy, errGone) || busy.Error() != "storage service: HTTP 503 ServerBusy" || strings.Contains(busy.Error(), "\n") {
		t.Fatalf("503: %q", busy)
	}
	if Normalize(nil, classify) != nil || Normalize(context.Canceled, classify) != context.Canceled {
		t.Fatal("non-service errors must pass unchanged")
	}
}
