package blobstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
)

const kib = 1 << 10

func committedBlocks(t *testing.T, c *Client, container, name string) []string {
	t.Helper()
	resp, err := c.container(container).NewBlockBlobClient(name).GetBlockList(context.Background(), blockblob.BlockListTypeCommitted, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, b := range resp.BlockList.CommittedBlocks {
		ids = append(ids, *b.Name)
	}
	return ids
}

func uncommittedBlocks(t *testing.T, c *Client, container, name string) int {
	t.Helper()
	resp, err := c.container(container).NewBlockBlobClient(name).GetBlockList(context.Background(), blockblob.BlockListTypeUncommitted, nil)
	if err != nil {
		if errors.Is(normalize(err), ErrNotFound) {
			return 0
		}
		t.Fatal(err)
	}
	return len(resp.BlockList.UncommittedBlocks)
}

func TestUploadContent(t *testing.T) {
	c, cn := setup(t)
	for _, tc := range []struct {
		name        string
		size        int
		blockSize   int64
		concurrency int
		wantBlocks  int // committed blocks; 0 for a single Put Blob
		wantStaged  int
	}{
		{"small", 1000, 64 * kib, 0, 0, 1},
		{"empty", 0, 64 * kib, 0, 0, 0},
		{"one-full-block", 64 * kib, 64 * kib, 2, 0, 1}, // fills the block: one byte more tells it is the end
		{"multi-block", 10 * 64 * kib, 64 * kib, 3, 10, 10},
		{"odd-size", 3*64*kib + 17, 64 * kib, 2, 4, 4},
		{"serial", 5*32*kib + 1, 32 * kib, 1, 6, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randBytes(tc.size, uint64(tc.size)+1)
			// HalfReader returns short reads: blocks must still be full.
			res, err := c.Upload(context.Background(), cn, tc.name, iotest.HalfReader(bytes.NewReader(data)), UploadOptions{
				BlockSize: tc.blockSize, Concurrency: tc.concurrency, SetContentMD5: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Size != int64(tc.size) || res.SHA256 != sha256.Sum256(data) || res.MD5 != md5.Sum(data) {
				t.Fatalf("summary %d %x %x does not match the source", res.Size, res.SHA256, res.MD5)
			}
			if res.ETag == "" || res.LastModified.IsZero() {
				t.Fatalf("result without ETag / LastModified: %+v", res)
			}
			if res.BlocksStaged != tc.wantStaged || res.BlocksSkipped != 0 {
				t.Fatalf("staged %d skipped %d, want %d 0", res.BlocksStaged, res.BlocksSkipped, tc.wantStaged)
			}
			got, p := readBlob(t, c, cn, tc.name)
			if !bytes.Equal(got, data) {
				t.Fatalf("content differs (%d bytes read, %d written)", len(got), len(data))
			}
			sum := md5.Sum(data)
			if p.Size != int64(tc.size) || p.ETag != res.ETag || !bytes.Equal(p.ContentMD5, sum[:]) {
				t.Fatalf("props %+v; want size %d etag %s md5 %x", p, tc.size, res.ETag, sum)
			}
			if p.ContentType != "application/octet-stream" {
				t.Fatalf("content type %q", p.ContentType)
			}
			ids := committedBlocks(t, c, cn, tc.name)
			if len(ids) != tc.wantBlocks {
				t.Fatalf("%d committed blocks, want %d", len(ids), tc.wantBlocks)
			}
			for i, id := range ids {
				raw, _ := base64.StdEncoding.DecodeString(id)
				if len(id) != len(ids[0]) || !strings.HasPrefix(string(raw), fmt.Sprintf("%08d-", i)) {
					t.Fatalf("block id %d = %q (%q): not index-MD5 of fixed length", i, id, raw)
				}
			}
		})
	}
}

// The requests an upload sends: a stream up to one block, a full one
// included, is one Put Blob; a longer one is its blocks and a block list.
// Around the block boundary the byte read past a full first block must
// start the second block, whatever the reader's chunking.
func TestUploadRequests(t *testing.T) {
	reqs := &Requests{}
	c, cn := setup(t, Options{Requests: reqs})
	const bs = 16 * kib
	readers := map[string]func([]byte) io.Reader{
		"plain": func(b []byte) io.Reader { return bytes.NewReader(b) },
		"half":  func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
		// The last bytes come with io.EOF, not before it.
		"data-eof": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
		"one-byte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
	}
	for _, tc := range []struct {
		name string
		size int
		want map[string]int64
	}{
		{"empty", 0, map[string]int64{"PutBlob": 1}},
		{"block-1", bs - 1, map[string]int64{"PutBlob": 1}},
		{"block", bs, map[string]int64{"PutBlob": 1}},
		{"block+1", bs + 1, map[string]int64{"PutBlock": 2, "PutBlockList": 1}},
		{"2-blocks", 2 * bs, map[string]int64{"PutBlock": 2, "PutBlockList": 1}},
		{"2-blocks+1", 2*bs + 1, map[string]int64{"PutBlock": 3, "PutBlockList": 1}},
	} {
		for rname, reader := range readers {
			t.Run(tc.name+"/"+rname, func(t *testing.T) {
				data := randBytes(tc.size, uint64(tc.size)+7)
				name := tc.name + "-" + rname
				for _, md5Whole := range []bool{false, true} {
					reqs.Reset()
					res, err := c.Upload(context.Background(), cn, name, reader(data), UploadOptions{
						BlockSize: bs, Concurrency: 2, SetContentMD5: md5Whole,
					})
					if err != nil {
						t.Fatal(err)
					}
					if got := reqs.Counts(); !maps.Equal(got, tc.want) {
						t.Fatalf("requests %v, want %v", got, tc.want)
					}
					if res.Size != int64(tc.size) || res.SHA256 != sha256.Sum256(data) {
						t.Fatalf("summary %d %x does not match the source", res.Size, res.SHA256)
					}
					if (md5Whole || tc.want["PutBlob"] == 1) && res.MD5 != md5.Sum(data) {
						t.Fatalf("MD5 %x, want the source's", res.MD5)
					}
					got, p := readBlob(t, c, cn, name)
					if !bytes.Equal(got, data) {
						t.Fatalf("content differs (%d bytes read, %d written)", len(got), len(data))
					}
					if sum := md5.Sum(data); md5Whole && !bytes.Equal(p.ContentMD5, sum[:]) {
						t.Fatalf("Content-MD5 %x, want %x", p.ContentMD5, sum)
					}
				}
			})
		}
	}
}

// A read error just past a full first block (where the upload looks one
// byte ahead) fails the upload; nothing is committed.
func TestUploadReadErrorAfterFullBlock(t *testing.T) {
	c, cn := setup(t)
	const bs = 16 * kib
	boom := errors.New("disk gone")
	r := io.MultiReader(bytes.NewReader(randBytes(bs, 3)), iotest.ErrReader(boom))
	_, err := c.Upload(context.Background(), cn, "e", r, UploadOptions{BlockSize: bs})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), fmt.Sprintf("read source at %d", bs)) {
		t.Fatalf("err %v, want the source's error at %d", err, bs)
	}
	if ok, _ := c.Exists(context.Background(), cn, "e"); ok {
		t.Fatal("blob committed from a failed read")
	}
}

func TestUploadBoundedBuffers(t *testing.T) {
	c, cn := setup(t)
	data := randBytes(20*16*kib+5, 7)
	if _, err := c.Upload(context.Background(), cn, "b", bytes.NewReader(data), UploadOptions{BlockSize: 16 * kib, Concurrency: 2}); err != nil {
		t.Fatal(err)
	}
	if n := c.bufs.allocs.Load(); n > 3 {
		t.Fatalf("%d block buffers allocated for 21 blocks, want at most Concurrency+1 = 3", n)
	}
	got, _ := readBlob(t, c, cn, "b")
	if !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

func TestUploadMetadata(t *testing.T) {
	c, cn := setup(t)
	data := randBytes(100*kib, 3)
	for _, bs := range []int64{DefaultBlockSize, 16 * kib} { // Put Blob and Put Block List
		name := fmt.Sprint("m-", bs)
		res, err := c.Upload(context.Background(), cn, name, bytes.NewReader(data), UploadOptions{
			BlockSize:       bs,
			ContentType:     "application/x-tensor",
			Metadata:        map[string]string{"ModelId": "7", "QuantizationType": "Q4_K"},
			HashMetadataKey: "Sha256",
			SetContentMD5:   true,
		})
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Properties(context.Background(), cn, name)
		if err != nil {
			t.Fatal(err)
		}
		sha := sha256.Sum256(data)
		sum := md5.Sum(data)
		if p.Meta("ModelId") != "7" || p.Meta("quantizationtype") != "Q4_K" || p.Meta("SHA256") != hex.EncodeToString(sha[:]) {
			t.Fatalf("metadata %v", p.Metadata)
		}
		if p.ContentType != "application/x-tensor" || !bytes.Equal(p.ContentMD5, sum[:]) || p.ETag != res.ETag || p.Size != int64(len(data)) {
			t.Fatalf("props %+v", p)
		}
	}
}

func TestUploadIfNoneMatchAny(t *testing.T) {
	c, cn := setup(t)
	first := randBytes(50*kib, 1)
	for _, bs := range []int64{DefaultBlockSize, 16 * kib} {
		name := fmt.Sprint("x-", bs)
		if _, err := c.Upload(context.Background(), cn, name, bytes.NewReader(first), UploadOptions{BlockSize: bs, IfNoneMatchAny: true}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Upload(context.Background(), cn, name, bytes.NewReader(randBytes(50*kib, 2)), UploadOptions{BlockSize: bs, IfNoneMatchAny: true})
		if !errors.Is(err, ErrConflict) {
			t.Fatalf("second upload with IfNoneMatchAny: %v, want ErrConflict", err)
		}
		if !strings.Contains(err.Error(), "blobstore: upload "+cn+"/"+name) {
			t.Fatalf("error lacks context: %v", err)
		}
		if got, _ := readBlob(t, c, cn, name); !bytes.Equal(got, first) {
			t.Fatal("the refused upload changed the blob")
		}
	}
}

func TestUploadIfMatch(t *testing.T) {
	c, cn := setup(t)
	ctx := context.Background()
	r1, err := c.Upload(ctx, cn, "b", bytes.NewReader([]byte("one")), UploadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.Upload(ctx, cn, "b", bytes.NewReader([]byte("two")), UploadOptions{IfMatch: r1.ETag})
	if err != nil {
		t.Fatalf("IfMatch with the current ETag: %v", err)
	}
	if r2.ETag == r1.ETag {
		t.Fatal("ETag unchanged by an overwrite")
	}
	_, err = c.Upload(ctx, cn, "b", bytes.NewReader(randBytes(40*kib, 9)), UploadOptions{IfMatch: r1.ETag, BlockSize: 16 * kib})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("IfMatch with a stale ETag: %v, want ErrConflict", err)
	}
	if got, _ := readBlob(t, c, cn, "b"); string(got) != "two" {
		t.Fatalf("content %q after a refused upload", got)
	}
}

func TestUploadBeforeCommitAbort(t *testing.T) {
	c, cn := setup(t)
	refuse := errors.New("hash differs from the catalog")
	for _, bs := range []int64{DefaultBlockSize, 16 * kib} {
		name := fmt.Sprint("a-", bs)
		data := randBytes(70*kib, 4)
		var seen Summary
		_, err := c.Upload(context.Background(), cn, name, bytes.NewReader(data), UploadOptions{
			BlockSize:     bs,
			SetContentMD5: true, // Summary.MD5 is computed only for it
			BeforeCommit:  func(s Summary) error { seen = s; return refuse },
		})
		if !errors.Is(err, ErrAborted) || !errors.Is(err, refuse) {
			t.Fatalf("err %v, want ErrAborted wrapping the cause", err)
		}
		if seen.Size != int64(len(data)) || seen.SHA256 != sha256.Sum256(data) || seen.MD5 != md5.Sum(data) {
			t.Fatalf("BeforeCommit saw %+v", seen)
		}
		if ok, err := c.Exists(context.Background(), cn, name); err != nil || ok {
			t.Fatalf("aborted upload left a committed blob (exists=%v, err=%v)", ok, err)
		}
	}
}

func TestUploadResume(t *testing.T) {
	c, cn := setup(t)
	ctx := context.Background()
	const bs = 16 * kib
	data := randBytes(5*bs+100, 5) // 6 blocks
	crash := errors.New("process killed")
	_, err := c.Upload(ctx, cn, "r", bytes.NewReader(data), UploadOptions{BlockSize: bs, Resume: true, AfterStage: func() error { return crash }})
	if !errors.Is(err, ErrAborted) || !errors.Is(err, crash) {
		t.Fatalf("err %v", err)
	}
	if n := uncommittedBlocks(t, c, cn, "r"); n != 6 {
		t.Fatalf("%d blocks staged by the interrupted upload, want 6", n)
	}

	res, err := c.Upload(ctx, cn, "r", bytes.NewReader(data), UploadOptions{BlockSize: bs, Resume: true, SetContentMD5: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.BlocksStaged != 0 || res.BlocksSkipped != 6 {
		t.Fatalf("resume staged %d, skipped %d; want 0 and 6", res.BlocksStaged, res.BlocksSkipped)
	}
	if res.SHA256 != sha256.Sum256(data) {
		t.Fatal("resume: hash not of the source")
	}
	if got, _ := readBlob(t, c, cn, "r"); !bytes.Equal(got, data) {
		t.Fatal("resumed blob differs from the source")
	}

	// Changed data: only the changed block is sent again.
	_, err = c.Upload(ctx, cn, "r2", bytes.NewReader(data), UploadOptions{BlockSize: bs, Resume: true, AfterStage: func() error { return crash }})
	if !errors.Is(err, ErrAborted) {
		t.Fatal(err)
	}
	changed := bytes.Clone(data)
	changed[3*bs+10] ^= 1
	res, err = c.Upload(ctx, cn, "r2", bytes.NewReader(changed), UploadOptions{BlockSize: bs, Resume: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.BlocksStaged != 1 || res.BlocksSkipped != 5 {
		t.Fatalf("changed block: staged %d skipped %d, want 1 and 5", res.BlocksStaged, res.BlocksSkipped)
	}
	if got, _ := readBlob(t, c, cn, "r2"); !bytes.Equal(got, changed) {
		t.Fatal("resumed blob differs from the changed source")
	}

	// A stream that fits in one block is staged too under Resume.
	small := randBytes(1000, 8)
	if _, err := c.Upload(ctx, cn, "r3", bytes.NewReader(small), UploadOptions{Resume: true, AfterStage: func() error { return crash }}); !errors.Is(err, ErrAborted) {
		t.Fatal(err)
	}
	res, err = c.Upload(ctx, cn, "r3", bytes.NewReader(small), UploadOptions{Resume: true})
	if err != nil || res.BlocksSkipped != 1 || res.BlocksStaged != 0 {
		t.Fatalf("small resume: %+v %v", res, err)
	}
	if got, _ := readBlob(t, c, cn, "r3"); !bytes.Equal(got, small) {
		t.Fatal("small resumed blob differs")
	}
	// An empty stream under Resume commits an empty block list.
	res, err = c.Upload(ctx, cn, "r4", bytes.NewReader(nil), UploadOptions{Resume: true})
	if err != nil || res.Size != 0 {
		t.Fatalf("empty resume: %+v %v", res, err)
	}
	if got, p := readBlob(t, c, cn, "r4"); len(got) != 0 || p.Size != 0 {
		t.Fatal("empty blob not empty")
	}
}

// The service checks each block's transactional MD5: a block damaged on
// the wire fails the upload, and nothing is committed.
func TestUploadTransactionalMD5(t *testing.T) {
	for _, tc := range []struct {
		name     string
		bs       int64
		nth      int64 // which matching request to damage
		match    func(*http.Request) bool
		wholeMD5 bool // SetContentMD5
	}{
		{"put-block", 16 * kib, 2, func(r *http.Request) bool { return r.URL.Query().Get("comp") == "block" }, false},
		// With SetContentMD5, block 0's MD5 comes from the whole-stream
		// hasher; without, from the stager like every other block.
		{"put-block-0-hasher", 16 * kib, 1, func(r *http.Request) bool { return r.URL.Query().Get("comp") == "block" && blockIndex(r) == "00000000" }, true},
		{"put-block-0-stager", 16 * kib, 1, func(r *http.Request) bool { return r.URL.Query().Get("comp") == "block" && blockIndex(r) == "00000000" }, false},
		{"put-block-last", 16 * kib, 1, func(r *http.Request) bool { return r.URL.Query().Get("comp") == "block" && blockIndex(r) == "00000003" }, true},
		{"put-blob", DefaultBlockSize, 1, func(r *http.Request) bool { return r.Method == http.MethodPut && r.URL.Query().Get("comp") == "" }, false},
		{"put-blob-md5", DefaultBlockSize, 1, func(r *http.Request) bool { return r.Method == http.MethodPut && r.URL.Query().Get("comp") == "" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hits atomic.Int64
			c, cn := setup(t, Options{HTTPClient: &transport{onRequest: func(r *http.Request) {
				if strings.Contains(r.URL.Path, "/victim") && tc.match(r) && hits.Add(1) == tc.nth {
					corruptBody(r)
				}
			}}})
			_, err := c.Upload(context.Background(), cn, "victim", bytes.NewReader(randBytes(60*kib, 6)), UploadOptions{BlockSize: tc.bs, Concurrency: 2, SetContentMD5: tc.wholeMD5})
			if err == nil {
				t.Fatal("a corrupted block was accepted")
			}
			t.Log(err)
			if hits.Load() == 0 {
				t.Fatal("no request was corrupted")
			}
			if ok, _ := c.Exists(context.Background(), cn, "victim"); ok {
				t.Fatal("a blob was committed despite the corrupted block")
			}
		})
	}
}

// blockIndex is the index part of a Put Block request's block id.
func blockIndex(r *http.Request) string {
	raw, err := base64.StdEncoding.DecodeString(r.URL.Query().Get("blockid"))
	if err != nil {
		return ""
	}
	idx, _, _ := strings.Cut(string(raw), "-")
	return idx
}

// The staged-block listing of a resumed upload runs beside the first
// reads: its failure still fails the upload, with its own error, and
// nothing is committed.
func TestUploadResumeListingFails(t *testing.T) {
	c, _ := setup(t)
	_, err := c.Upload(context.Background(), "no-such-container", "r", bytes.NewReader(randBytes(40*kib, 3)), UploadOptions{BlockSize: 16 * kib, Resume: true})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "resume: list staged blocks") {
		t.Fatalf("err %v, want the listing's ErrNotFound", err)
	}
}

func TestUploadTooManyBlocks(t *testing.T) {
	c, cn := setup(t)
	c.maxBlocks = 3
	_, err := c.Upload(context.Background(), cn, "big", bytes.NewReader(randBytes(3*kib+1, 1)), UploadOptions{BlockSize: kib, Resume: true})
	if err == nil || !strings.Contains(err.Error(), "exceeds 3 blocks") {
		t.Fatalf("err %v, want the block limit", err)
	}
	if n := uncommittedBlocks(t, c, cn, "big"); n > 3 {
		t.Fatalf("%d blocks staged past the limit", n)
	}
	// Exactly at the limit is fine.
	if _, err := c.Upload(context.Background(), cn, "fits", bytes.NewReader(randBytes(3*kib, 1)), UploadOptions{BlockSize: kib}); err != nil {
		t.Fatal(err)
	}
}

func TestUploadReadError(t *testing.T) {
	c, cn := setup(t)
	r := iotest.TimeoutReader(bytes.NewReader(randBytes(40*kib, 1))) // the second read fails
	_, err := c.Upload(context.Background(), cn, "e", r, UploadOptions{BlockSize: 16 * kib})
	if !errors.Is(err, iotest.ErrTimeout) {
		t.Fatalf("err %v, want the source's error", err)
	}
	if ok, _ := c.Exists(context.Background(), cn, "e"); ok {
		t.Fatal("blob committed from a failed read")
	}
}

// The first failed block stops the upload: the rest of the stream is not
// staged.
func TestUploadStopsOnFirstStagingError(t *testing.T) {
	var puts atomic.Int64
	c, cn := setup(t, Options{HTTPClient: &transport{onRequest: func(r *http.Request) {
		if r.URL.Query().Get("comp") == "block" && puts.Add(1) == 3 {
			corruptBody(r)
		}
	}}})
	_, err := c.Upload(context.Background(), cn, "s", bytes.NewReader(randBytes(40*kib, 2)), UploadOptions{BlockSize: kib, Concurrency: 2})
	if err == nil || !strings.Contains(err.Error(), "stage block ") {
		t.Fatalf("err %v, want a staging failure", err)
	}
	if n := puts.Load(); n > 8 {
		t.Fatalf("%d of 40 blocks sent after the failure of the third", n)
	}
}
