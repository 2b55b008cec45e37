package azstorage

import (
	"context"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
)

func TestOperation(t *testing.T) {
	const acct = "http://127.0.0.1:10000/devstoreaccount1"
	for _, tc := range []struct {
		method, url, copySource, want string
	}{
		{"PUT", acct + "/c?restype=container", "", "CreateContainer"},
		{"HEAD", acct + "/c?restype=container", "", "GetContainerProperties"},
		{"DELETE", acct + "/c?restype=container", "", "DeleteContainer"},
		{"GET", acct + "/c?restype=container&comp=list&prefix=x", "", "List"},
		{"PUT", acct + "/c/sha256-ab", "", "PutBlob"},
		{"PUT", acct + "/c/a/b", "http://x/y", "CopyBlob"},
		{"PUT", acct + "/c/b?comp=block&blockid=MDA%3D", "", "PutBlock"},
		{"PUT", acct + "/c/b?comp=blocklist", "", "PutBlockList"},
		{"PUT", acct + "/c/b?comp=metadata", "", "SetMetadata"},
		{"PUT", acct + "/c/b?comp=properties", "", "SetProperties"},
		{"GET", acct + "/c/b?comp=blocklist&blocklisttype=all", "", "GetBlockList"},
		{"GET", acct + "/c/b", "", "GetBlob"},
		{"HEAD", acct + "/c/b", "", "GetProperties"},
		{"DELETE", acct + "/c/b", "", "Delete"},
		{"PUT", acct + "/c/b?comp=lease", "", "PUT lease"},
		{"POST", acct + "/q/messages", "", "PutMessage"},
		{"GET", acct + "/q/messages?numofmessages=32", "", "GetMessages"},
		{"GET", acct + "/q/messages?peekonly=true", "", "PeekMessages"},
		{"PUT", acct + "/q/messages/abc?popreceipt=r&visibilitytimeout=30", "", "UpdateMessage"},
		{"DELETE", acct + "/q/messages/abc?popreceipt=r", "", "DeleteMessage"},
		{"DELETE", acct + "/q/messages", "", "ClearMessages"},
	} {
		r, err := http.NewRequest(tc.method, tc.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.copySource != "" {
			r.Header.Set("x-ms-copy-source", tc.copySource)
		}
		if got := Operation(r); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.url, got, tc.want)
		}
	}
}

// answer is a transport that fails the first fail attempts with 503.
type answer struct {
	fail  int32
	tries atomic.Int32
}

func (a *answer) Do(req *http.Request) (*http.Response, error) {
	status := http.StatusCreated
	if a.tries.Add(1) <= a.fail {
		status = http.StatusServiceUnavailable
	}
	return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}, Request: req}, nil
}

// Requests sits below the retry policy: every attempt is counted.
func TestRequestsCountsAttempts(t *testing.T) {
	var reqs Requests
	if reqs.Counts() != nil || reqs.Total() != 0 {
		t.Fatal("a new counter is not empty")
	}
	tr := &answer{fail: 2}
	opt := Options{HTTPClient: tr, Requests: &reqs, Retry: policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond}}
	co := opt.ClientOptions()
	pl := runtime.NewPipeline("test", "v0", runtime.PipelineOptions{}, &co)
	send := func(method, url string) {
		t.Helper()
		req, err := runtime.NewRequest(context.Background(), method, url)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := pl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send(http.MethodPut, "http://127.0.0.1/acct/c/b?comp=block&blockid=AA%3D%3D") // two 503s, then 201
	send(http.MethodPut, "http://127.0.0.1/acct/c/b?comp=blocklist")
	want := map[string]int64{"PutBlock": 3, "PutBlockList": 1}
	if got := reqs.Counts(); !maps.Equal(got, want) || reqs.Total() != 4 {
		t.Fatalf("counts %v (total %d), want %v", got, reqs.Total(), want)
	}
	reqs.Reset()
	if reqs.Total() != 0 {
		t.Fatal("Reset kept counts")
	}
	send(http.MethodPut, "http://127.0.0.1/acct/c/b?comp=blocklist")
	if got := reqs.Take(); !maps.Equal(got, map[string]int64{"PutBlockList": 1}) {
		t.Fatalf("Take: %v, want one PutBlockList", got)
	}
	if got := reqs.Take(); len(got) != 0 || reqs.Total() != 0 {
		t.Fatalf("Take kept counts: %v", got)
	}
}
