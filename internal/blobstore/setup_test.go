package blobstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/hartonomous/offload/internal/azurite/azuritetest"
	"github.com/hartonomous/offload/internal/config"
)

// az is the test binary's Azurite, started by the first test that needs it.
var az azuritetest.Shared

func TestMain(m *testing.M) { az.Main(m) }

var seq atomic.Int64

// setup returns a fresh Client and an empty container of its own.
func setup(tb testing.TB, opts ...Options) (*Client, string) {
	tb.Helper()
	var opt Options
	if len(opts) > 0 {
		opt = opts[0]
	}
	c, err := New(config.Storage{ConnectionString: az.Get(tb).ConnectionString}, opt)
	if err != nil {
		tb.Fatal(err)
	}
	name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(tb.Name(), "-"))
	name = strings.Trim(name, "-")
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(fmt.Sprintf("%s-%d", name, seq.Add(1)), "-")
	if err := c.EnsureContainer(context.Background(), name); err != nil {
		tb.Fatal(err)
	}
	return c, name
}

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func readBlob(tb testing.TB, c *Client, container, name string) ([]byte, Props) {
	tb.Helper()
	body, p, err := c.Download(context.Background(), container, name, 0, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		tb.Fatal(err)
	}
	return b, p
}

// transport lets a test see or alter requests and responses on their way.
type transport struct {
	onRequest  func(*http.Request)
	onResponse func(*http.Request, *http.Response)
}

func (t *transport) Do(req *http.Request) (*http.Response, error) {
	if t.onRequest != nil {
		t.onRequest(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err == nil && t.onResponse != nil {
		t.onResponse(req, resp)
	}
	return resp, err
}

var _ policy.Transporter = (*transport)(nil)

// corruptBody flips one byte of a request body, as a faulty network would.
func corruptBody(req *http.Request) {
	b, err := io.ReadAll(req.Body)
	if err != nil || len(b) == 0 {
		return
	}
	b[len(b)/2] ^= 0xff
	req.Body = io.NopCloser(bytes.NewReader(b))
	req.ContentLength = int64(len(b))
}
