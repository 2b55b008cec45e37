package files

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/azurite/azuritetest"
	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/config"
)

// az is the test binary's Azurite, started by the first test that needs
// storage (the pure tests and the fuzzer need none). Tests do not run in
// parallel: the hostile-request test compares the whole account before and
// after.
var az azuritetest.Shared

func TestMain(m *testing.M) { az.Main(m) }

var seq atomic.Int64

// harness is a Files service on a fresh pair of containers, served by a
// real HTTP server (so bodies stream both ways, as under the host).
type harness struct {
	t      testing.TB
	blobs  *blobstore.Client
	az     *azblob.Client
	svc    *Service
	url    string
	models string // container of D:\Models\
	repo   string // container of D:\Repositories\Hartonomous\
	roots  []config.Root
}

// setup builds a harness; cfg may adjust the service's Config.
func setup(t testing.TB, cfg ...func(*Config)) *harness {
	t.Helper()
	srv := az.Get(t)
	st := config.Storage{ConnectionString: srv.ConnectionString}
	blobs, err := blobstore.New(st, blobstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bc, err := azblob.NewClientFromConnectionString(srv.ConnectionString, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := seq.Add(1)
	h := &harness{t: t, blobs: blobs, az: bc, models: fmt.Sprintf("models-%d", n), repo: fmt.Sprintf("repo-%d", n)}
	h.roots, err = config.ParseRoots(fmt.Sprintf(`D:\Models\=%s;D:\Repositories\Hartonomous\=%s`, h.models, h.repo))
	if err != nil {
		t.Fatal(err)
	}
	c := Config{Blobs: blobs, Roots: h.roots, TempDir: t.TempDir()}
	for _, f := range cfg {
		f(&c)
	}
	h.svc = New(c)
	e := echo.New()
	// Any: the handler's own method check is under test too.
	e.Any("/api/files/:op", h.svc.Handler())
	ts := httptest.NewServer(e)
	t.Cleanup(ts.Close)
	h.url = ts.URL
	return h
}

// The headers sp_invoke_external_rest_endpoint sends (it sets Content-Type
// and Accept itself, whatever @headers says) plus the credential's
// x-functions-key.
func sqlHeaders(r *http.Request) {
	r.Header.Set("Content-Type", "application/json; charset=utf-8")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("User-Agent", "SQL Azure/12.0.2000.8")
	r.Header.Set("x-functions-key", "test-function-key")
}

// call POSTs body to /api/files/{op} the way Azure SQL does and returns the
// status and the whole response body.
func (h *harness) call(op, body string, mod ...func(*http.Request)) (int, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/api/files/"+op, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	sqlHeaders(req)
	for _, m := range mod {
		m(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("%s: read response: %v", op, err)
	}
	return resp.StatusCode, b
}

// put writes a blob directly (test fixtures).
func (h *harness) put(container, name string, data []byte) string {
	h.t.Helper()
	if err := h.blobs.EnsureContainer(context.Background(), container); err != nil {
		h.t.Fatal(err)
	}
	res, err := h.blobs.Upload(context.Background(), container, name, bytes.NewReader(data), blobstore.UploadOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	return res.ETag
}

// get reads a blob directly (nil when missing).
func (h *harness) get(container, name string) []byte {
	h.t.Helper()
	body, _, err := h.blobs.Download(context.Background(), container, name, 0, 0)
	if err != nil {
		return nil
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

// snapshot lists every container of the account with every blob, committed
// or not (an aborted upload must not even leave staged blocks behind a
// name), with size and ETag.
func (h *harness) snapshot() []string {
	h.t.Helper()
	ctx := context.Background()
	var out []string
	pager := h.az.NewListContainersPager(nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			h.t.Fatal(err)
		}
		for _, c := range page.ContainerItems {
			out = append(out, "container "+*c.Name)
			bp := h.az.NewListBlobsFlatPager(*c.Name, &container.ListBlobsFlatOptions{
				Include: container.ListBlobsInclude{UncommittedBlobs: true, Metadata: true},
			})
			for bp.More() {
				bpage, err := bp.NextPage(ctx)
				if err != nil {
					h.t.Fatal(err)
				}
				for _, b := range bpage.Segment.BlobItems {
					out = append(out, fmt.Sprintf("blob %s/%s size=%d etag=%s", *c.Name, *b.Name, *b.Properties.ContentLength, *b.Properties.ETag))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// forJSON renders fields as T-SQL's FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
// does: in order, NULLs left out, "/" escaped as "\/", varbinary as
// base64.
func forJSON(kv ...any) string {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for i := 0; i < len(kv); i += 2 {
		var v string
		switch x := kv[i+1].(type) {
		case nil:
			continue
		case string:
			v = sqlJSONString(x)
		case []byte:
			v = `"` + base64Std(x) + `"`
		default:
			j, _ := json.Marshal(x)
			v = string(j)
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		b.WriteString(sqlJSONString(kv[i].(string)) + ":" + v)
	}
	b.WriteByte('}')
	return b.String()
}

func sqlJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '/':
			b.WriteString(`\/`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}
