package azstorage

import (
	"maps"
	"net/http"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Requests counts the storage requests a client sends, by operation
// (PutBlob, PutBlock, PutBlockList, GetBlockList, GetProperties, …). Set it
// as Options.Requests, or add it to an SDK client's PerRetryPolicies: it
// sits below the retry policy, so every attempt the service sees is
// counted, retries included. Tests assert request patterns with it, and
// benchmarks report requests per item, a number that, unlike wall time,
// does not move with the machine's load.
//
// The zero value is ready; it is safe for concurrent use.
type Requests struct {
	mu sync.Mutex
	n  map[string]int64
}

var _ policy.Policy = (*Requests)(nil)

// Do counts req and passes it on.
func (c *Requests) Do(req *policy.Request) (*http.Response, error) {
	op := Operation(req.Raw())
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int64{}
	}
	c.n[op]++
	c.mu.Unlock()
	return req.Next()
}

// Counts is a snapshot of the counts by operation (nil before the first
// request).
func (c *Requests) Counts() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

// Total is the number of requests counted.
func (c *Requests) Total() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var t int64
	for _, v := range c.n {
		t += v
	}
	return t
}

// Reset forgets the counts.
func (c *Requests) Reset() {
	c.mu.Lock()
	c.n = nil
	c.mu.Unlock()
}

// Take is Counts and Reset in one step: the requests since the last Take,
// none of them lost to a request counted in between.
func (c *Requests) Take() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = nil
	if n == nil {
		n = map[string]int64{}
	}
	return n
}

// Operation names the Blob service operation of a request, from its method
// and its comp and restype query parameters: the REST API's operation
// names for the ones Offload sends, "METHOD comp" otherwise. Queue message
// requests (a path ending in /messages or /messages/<id>) are named too;
// other Queue requests (create queue) are told from Blob ones only by the
// account's endpoint, which this does not look at.
func Operation(r *http.Request) string {
	q := r.URL.Query()
	comp, container := q.Get("comp"), q.Get("restype") == "container"
	if op, ok := queueOperation(r); ok {
		return op
	}
	switch r.Method {
	case http.MethodHead:
		if container {
			return "GetContainerProperties"
		}
		return "GetProperties"
	case http.MethodPut:
		switch {
		case container && comp == "":
			return "CreateContainer"
		case comp == "":
			if r.Header.Get("x-ms-copy-source") != "" {
				return "CopyBlob"
			}
			return "PutBlob"
		case comp == "block":
			return "PutBlock"
		case comp == "blocklist":
			return "PutBlockList"
		case comp == "metadata":
			return "SetMetadata"
		case comp == "properties":
			return "SetProperties"
		}
	case http.MethodGet:
		switch {
		case comp == "blocklist":
			return "GetBlockList"
		case comp == "list":
			return "List"
		case comp == "" && !container:
			return "GetBlob"
		}
	case http.MethodDelete:
		if container {
			return "DeleteContainer"
		}
		if comp == "" {
			return "Delete"
		}
	}
	if comp == "" {
		return r.Method
	}
	return r.Method + " " + comp
}

func queueOperation(r *http.Request) (string, bool) {
	p := strings.TrimSuffix(r.URL.Path, "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 && !strings.HasSuffix(p, "/messages") {
		p = p[:i] // /messages/<id>
	}
	if !strings.HasSuffix(p, "/messages") {
		return "", false
	}
	switch r.Method {
	case http.MethodPost:
		return "PutMessage", true
	case http.MethodGet:
		if r.URL.Query().Get("peekonly") == "true" {
			return "PeekMessages", true
		}
		return "GetMessages", true
	case http.MethodPut:
		return "UpdateMessage", true
	case http.MethodDelete:
		if r.URL.Query().Get("popreceipt") != "" {
			return "DeleteMessage", true
		}
		return "ClearMessages", true
	}
	return "", false
}
