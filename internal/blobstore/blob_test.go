package blobstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"

	"github.com/hartonomous/offload/internal/config"
)

func TestEnsureContainerIdempotent(t *testing.T) {
	c, cn := setup(t) // created once by setup
	for range 2 {
		if err := c.EnsureContainer(context.Background(), cn); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.EnsureContainer(context.Background(), "Bad_Name"); err == nil {
		t.Fatal("an invalid container name was accepted")
	}
}

func TestURL(t *testing.T) {
	c, cn := setup(t)
	name := "dir/a b#?%.bin"
	want := "http://127.0.0.1:" + itoa(az.Get(t).BlobPort) + "/devstoreaccount1/" + cn + "/dir/a%20b%23%3F%25.bin"
	if got := c.URL(cn, name); got != want {
		t.Fatalf("URL = %s, want %s", got, want)
	}
	// The name is the one the other calls use.
	if _, err := c.Upload(context.Background(), cn, name, strings.NewReader("x"), UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := c.List(context.Background(), cn, "", "", func(it Item) error { names = append(names, it.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 || names[0] != name {
		t.Fatalf("listed %q", names)
	}
	// The URL addresses that very blob for any other client.
	cred, err := blob.NewSharedKeyCredential(config.DevAccountName, config.DevAccountKey)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := blob.NewClientWithSharedKeyCredential(want, cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := bc.GetProperties(context.Background(), nil); err != nil || *p.ContentLength != 1 {
		t.Fatalf("GET %s: %v", want, err)
	}
}

func itoa(i int) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		if i /= 10; i == 0 {
			return string(b)
		}
	}
}

func TestNotFound(t *testing.T) {
	c, cn := setup(t)
	ctx := context.Background()
	if _, err := c.Properties(ctx, cn, "missing"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Properties: %v", err)
	}
	if _, err := c.Properties(ctx, "no-such-container", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Properties in a missing container: %v", err)
	}
	if ok, err := c.Exists(ctx, cn, "missing"); ok || err != nil {
		t.Fatalf("Exists: %v %v", ok, err)
	}
	if _, _, err := c.Download(ctx, cn, "missing", 0, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Download: %v", err)
	}
	err := c.Delete(ctx, cn, "missing", "")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete: %v", err)
	}
	if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "delete "+cn+"/missing") {
		t.Fatalf("error is not one line with context: %q", err)
	}
	if _, err := c.SetMetadata(ctx, cn, "missing", map[string]string{"A": "1"}, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetMetadata: %v", err)
	}
	if err := c.List(ctx, "no-such-container", "", "", func(Item) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("List: %v", err)
	}
}

func TestDelete(t *testing.T) {
	c, cn := setup(t)
	ctx := context.Background()
	res, err := c.Upload(ctx, cn, "d", strings.NewReader("payload"), UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A snapshot would make a plain Delete fail with SnapshotsPresent.
	if _, err := c.container(cn).NewBlobClient("d").CreateSnapshot(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, cn, "d", `"0x8D000000000000"`); !errors.Is(err, ErrConflict) {
		t.Fatalf("Delete with a stale ETag: %v, want ErrConflict", err)
	}
	if ok, _ := c.Exists(ctx, cn, "d"); !ok {
		t.Fatal("a refused Delete removed the blob")
	}
	if err := c.Delete(ctx, cn, "d", res.ETag); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Exists(ctx, cn, "d"); ok {
		t.Fatal("blob still there")
	}
	if err := c.Delete(ctx, cn, "d", ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
}

func TestSetMetadata(t *testing.T) {
	c, cn := setup(t)
	ctx := context.Background()
	res, err := c.Upload(ctx, cn, "s", strings.NewReader("payload"), UploadOptions{Metadata: map[string]string{"ModelId": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	etag, err := c.SetMetadata(ctx, cn, "s", map[string]string{"ModelId": "1", "VerifiedAt": "2025-01-01T00:00:00Z"}, res.ETag)
	if err != nil {
		t.Fatal(err)
	}
	if etag == "" || etag == res.ETag {
		t.Fatalf("ETag %q after SetMetadata (was %q)", etag, res.ETag)
	}
	p, err := c.Properties(ctx, cn, "s")
	if err != nil {
		t.Fatal(err)
	}
	if p.ETag != etag || p.Meta("verifiedat") != "2025-01-01T00:00:00Z" || p.Meta("ModelId") != "1" {
		t.Fatalf("props %+v", p)
	}
	if _, err := c.SetMetadata(ctx, cn, "s", map[string]string{"X": "y"}, res.ETag); !errors.Is(err, ErrConflict) {
		t.Fatalf("SetMetadata with a stale ETag: %v", err)
	}
}

func TestDownloadRange(t *testing.T) {
	c, cn := setup(t)
	ctx := context.Background()
	data := randBytes(100*kib+3, 11)
	if _, err := c.Upload(ctx, cn, "r", bytes.NewReader(data), UploadOptions{BlockSize: 32 * kib, SetContentMD5: true}); err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(data)
	for _, tc := range []struct{ off, n int64 }{{0, 0}, {1000, 5000}, {100 * kib, 0}, {0, 1}, {int64(len(data)) - 1, 1}} {
		body, p, err := c.Download(ctx, cn, "r", tc.off, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(body)
		body.Close()
		if err != nil {
			t.Fatal(err)
		}
		end := int64(len(data))
		if tc.n > 0 {
			end = tc.off + tc.n
		}
		if !bytes.Equal(got, data[tc.off:end]) {
			t.Fatalf("range %d+%d: %d bytes differ", tc.off, tc.n, len(got))
		}
		if p.Size != int64(len(data)) || !bytes.Equal(p.ContentMD5, sum[:]) {
			t.Fatalf("range %d+%d: props size %d md5 %x, want the whole blob's", tc.off, tc.n, p.Size, p.ContentMD5)
		}
	}
}

// failingBody breaks a response body after a few bytes, like a dropped
// connection.
type failingBody struct {
	io.ReadCloser
	left int
}

func (f *failingBody) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	if len(p) > f.left {
		p = p[:f.left]
	}
	n, err := f.ReadCloser.Read(p)
	f.left -= n
	return n, err
}

func TestDownloadRetriesBody(t *testing.T) {
	var gets atomic.Int64
	c, cn := setup(t, Options{HTTPClient: &transport{onResponse: func(req *http.Request, resp *http.Response) {
		if req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/flaky") && gets.Add(1) <= 2 {
			resp.Body = &failingBody{ReadCloser: resp.Body, left: 10 * kib}
		}
	}}})
	ctx := context.Background()
	data := randBytes(64*kib, 12)
	if _, err := c.Upload(ctx, cn, "flaky", bytes.NewReader(data), UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	got, _ := readBlob(t, c, cn, "flaky")
	if !bytes.Equal(got, data) {
		t.Fatalf("%d bytes read after reconnections, content differs", len(got))
	}
	if n := gets.Load(); n < 3 {
		t.Fatalf("%d GETs: the body was not resumed", n)
	}
}

// The body resumes only from the same blob version.
func TestDownloadRetryKeepsVersion(t *testing.T) {
	var c *Client
	var cn string
	var once atomic.Bool
	c, cn = setup(t, Options{HTTPClient: &transport{onResponse: func(req *http.Request, resp *http.Response) {
		if req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/v") && once.CompareAndSwap(false, true) {
			resp.Body = &failingBody{ReadCloser: resp.Body, left: kib}
			// Overwrite the blob before the reader reconnects.
			_, _ = c.container(cn).NewBlockBlobClient("v").UploadBuffer(context.Background(), []byte("new version"), nil)
		}
	}}})
	ctx := context.Background()
	if _, err := c.Upload(ctx, cn, "v", bytes.NewReader(randBytes(8*kib, 1)), UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	body, _, err := c.Download(ctx, cn, "v", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	if _, err := io.ReadAll(body); err == nil {
		t.Fatal("a download spanning two versions of the blob succeeded")
	}
}
