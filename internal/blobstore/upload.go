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
	"hash"
	"io"
	"sync"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
)

// MaxBlockSize is the service's limit for one staged block.
const MaxBlockSize = blockblob.MaxStageBlockBytes

// Upload streams r into the block blob container/name.
//
// The stream is read once, sequentially, in blocks of BlockSize; the SHA-256
// and MD5 of the whole stream are computed from those bytes (never read back
// from the blob). Blocks are staged by Concurrency goroutines, each with its
// transactional MD5 so the service rejects a block damaged in transit.
// Memory stays at (Concurrency+1) × BlockSize whatever the stream's size.
//
// Block ids are deterministic (index and MD5 of the block), so with Resume
// the blocks an interrupted upload already staged are not sent again.
// Nothing is committed before AfterStage and BeforeCommit have returned nil;
// their errors wrap ErrAborted. A failed If-Match / If-None-Match wraps
// ErrConflict.
//
// A stream that fits in one block (and is not resumed) is sent as a single
// Put Blob, after the hooks, which halves the requests for small payloads.
func (c *Client) Upload(ctx context.Context, container, name string, r io.Reader, opt UploadOptions) (Result, error) {
	res, err := c.upload(ctx, container, name, r, opt)
	if err != nil {
		return res, fmt.Errorf("blobstore: upload %s/%s: %w", container, name, err)
	}
	return res, nil
}

// uploader is the state of one Upload.
type uploader struct {
	c    *Client
	bb   *blockblob.Client
	opt  UploadOptions
	sha  hash.Hash
	md5  hash.Hash
	size int64

	// staged holds the ids already on the service (Resume), read-only once
	// the workers start.
	staged map[string]bool

	mu      sync.Mutex
	ids     []string
	nStaged int
	nSkip   int
}

type blockJob struct {
	index int
	buf   *[]byte
	n     int
}

func (c *Client) upload(ctx context.Context, container, name string, r io.Reader, opt UploadOptions) (Result, error) {
	if opt.BlockSize == 0 {
		opt.BlockSize = DefaultBlockSize
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultConcurrency
	}
	if opt.BlockSize < 0 || opt.BlockSize > MaxBlockSize {
		return Result{}, fmt.Errorf("block size %d out of range (1..%d)", opt.BlockSize, int64(MaxBlockSize))
	}
	u := &uploader{
		c:   c,
		bb:  c.container(container).NewBlockBlobClient(name),
		opt: opt,
		sha: sha256.New(),
		md5: md5.New(),
	}
	if opt.Resume {
		if err := u.loadStaged(ctx); err != nil {
			return Result{}, err
		}
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// free holds Concurrency+1 buffer tokens: one being filled by this
	// goroutine, the others being staged. nil is a buffer not yet taken from
	// the pool, so a small stream never touches more than one.
	n := opt.Concurrency + 1
	free := make(chan *[]byte, n)
	for range n {
		free <- nil
	}
	defer func() {
		for range n {
			if b := <-free; b != nil {
				c.bufs.put(b)
			}
		}
	}()

	jobs := make(chan blockJob)
	var wg sync.WaitGroup
	for range opt.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if ctx.Err() == nil {
					if err := u.stage(ctx, j); err != nil {
						cancel(err)
					}
				}
				free <- j.buf
			}
		}()
	}

	var single []byte // the whole stream when it fits in one block
	readErr := func() error {
		for index := 0; ; index++ {
			var b *[]byte
			select {
			case b = <-free:
			case <-ctx.Done():
				return nil // the staging error is the cause
			}
			if b == nil {
				b = c.bufs.get(int(opt.BlockSize))
			}
			nr, err := io.ReadFull(r, *b)
			last := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
			if err != nil && !last {
				free <- b
				return fmt.Errorf("read source at %d: %w", u.size, err)
			}
			if nr > 0 && index >= c.maxBlocks {
				free <- b
				return fmt.Errorf("stream exceeds %d blocks of %d bytes: use a larger BlockSize", c.maxBlocks, opt.BlockSize)
			}
			u.sha.Write((*b)[:nr])
			u.md5.Write((*b)[:nr])
			u.size += int64(nr)
			if index == 0 && last && !opt.Resume {
				// Kept out of the pool until the Put Blob is done.
				single = (*b)[:nr]
				free <- b
				return nil
			}
			if nr == 0 {
				free <- b
				return nil
			}
			u.mu.Lock()
			u.ids = append(u.ids, "")
			u.mu.Unlock()
			select {
			case jobs <- blockJob{index: index, buf: b, n: nr}:
			case <-ctx.Done():
				free <- b
				return nil
			}
			if last {
				return nil
			}
		}
	}()
	close(jobs)
	wg.Wait()
	if readErr != nil {
		return Result{}, readErr
	}
	if err := context.Cause(ctx); err != nil {
		return Result{}, err
	}

	sum := Summary{Size: u.size}
	copy(sum.SHA256[:], u.sha.Sum(nil))
	copy(sum.MD5[:], u.md5.Sum(nil))
	if opt.AfterStage != nil {
		if err := opt.AfterStage(); err != nil {
			return Result{Summary: sum}, fmt.Errorf("%w: %w", ErrAborted, err)
		}
	}
	if opt.BeforeCommit != nil {
		if err := opt.BeforeCommit(sum); err != nil {
			return Result{Summary: sum}, fmt.Errorf("%w: %w", ErrAborted, err)
		}
	}
	if single != nil {
		// single aliases a buffer now back in free: it is only released to
		// the pool by the deferred drain, after this request.
		return u.putBlob(ctx, sum, single)
	}
	return u.commit(ctx, sum)
}

func blockID(index int, sum [16]byte) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%08d-%032x", index, sum))
}

// loadStaged lists the uncommitted blocks of an earlier, interrupted upload.
func (u *uploader) loadStaged(ctx context.Context) error {
	u.staged = map[string]bool{}
	resp, err := u.bb.GetBlockList(ctx, blockblob.BlockListTypeUncommitted, nil)
	if err != nil {
		err = normalize(err)
		if errors.Is(err, ErrNotFound) && !containerMissing(err) {
			return nil // no blob, no staged blocks: a fresh upload
		}
		return fmt.Errorf("resume: list staged blocks: %w", err)
	}
	if resp.BlockList.UncommittedBlocks != nil {
		for _, b := range resp.BlockList.UncommittedBlocks {
			if b != nil && b.Name != nil {
				u.staged[*b.Name] = true
			}
		}
	}
	return nil
}

func (u *uploader) stage(ctx context.Context, j blockJob) error {
	data := (*j.buf)[:j.n]
	sum := md5.Sum(data)
	id := blockID(j.index, sum)
	u.mu.Lock()
	u.ids[j.index] = id
	skip := u.staged[id]
	if skip {
		u.nSkip++
	}
	u.mu.Unlock()
	if skip {
		return nil
	}
	_, err := u.bb.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(data)), &blockblob.StageBlockOptions{
		TransactionalValidation: blob.TransferValidationTypeMD5(sum[:]),
	})
	if err != nil {
		return fmt.Errorf("stage block %d: %w", j.index, normalize(err))
	}
	u.mu.Lock()
	u.nStaged++
	u.mu.Unlock()
	return nil
}

func (u *uploader) headers(sum Summary) (*blob.HTTPHeaders, map[string]*string, *blob.AccessConditions) {
	ct := u.opt.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	h := &blob.HTTPHeaders{BlobContentType: &ct}
	if u.opt.SetContentMD5 {
		h.BlobContentMD5 = append([]byte(nil), sum.MD5[:]...)
	}
	md := toPtrMap(u.opt.Metadata)
	if u.opt.HashMetadataKey != "" {
		if md == nil {
			md = map[string]*string{}
		}
		md[u.opt.HashMetadataKey] = to.Ptr(hex.EncodeToString(sum.SHA256[:]))
	}
	var ac *blob.AccessConditions
	if u.opt.IfMatch != "" || u.opt.IfNoneMatchAny {
		mac := &blob.ModifiedAccessConditions{}
		if u.opt.IfMatch != "" {
			mac.IfMatch = to.Ptr(azcore.ETag(u.opt.IfMatch))
		}
		if u.opt.IfNoneMatchAny {
			mac.IfNoneMatch = to.Ptr(azcore.ETagAny)
		}
		ac = &blob.AccessConditions{ModifiedAccessConditions: mac}
	}
	return h, md, ac
}

func (u *uploader) commit(ctx context.Context, sum Summary) (Result, error) {
	h, md, ac := u.headers(sum)
	resp, err := u.bb.CommitBlockList(ctx, u.ids, &blockblob.CommitBlockListOptions{
		HTTPHeaders: h, Metadata: md, AccessConditions: ac,
	})
	if err != nil {
		return Result{Summary: sum}, fmt.Errorf("commit %d blocks: %w", len(u.ids), normalize(err))
	}
	return Result{
		Summary:       sum,
		ETag:          etag(resp.ETag),
		LastModified:  deref(resp.LastModified),
		BlocksStaged:  u.nStaged,
		BlocksSkipped: u.nSkip,
	}, nil
}

func (u *uploader) putBlob(ctx context.Context, sum Summary, data []byte) (Result, error) {
	h, md, ac := u.headers(sum)
	resp, err := u.bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(data)), &blockblob.UploadOptions{
		HTTPHeaders: h, Metadata: md, AccessConditions: ac,
		TransactionalValidation: blob.TransferValidationTypeMD5(sum.MD5[:]),
	})
	if err != nil {
		return Result{Summary: sum}, fmt.Errorf("put blob: %w", normalize(err))
	}
	staged := 0
	if len(data) > 0 {
		staged = 1
	}
	return Result{
		Summary:      sum,
		ETag:         etag(resp.ETag),
		LastModified: deref(resp.LastModified),
		BlocksStaged: staged,
	}, nil
}

// bufPool recycles block buffers across uploads: a migration uploads
// thousands of payloads and would otherwise allocate 4 MiB per block.
type bufPool struct {
	pools  sync.Map // size -> *sync.Pool of *[]byte
	allocs atomic.Int64
}

func (p *bufPool) get(size int) *[]byte {
	v, _ := p.pools.LoadOrStore(size, &sync.Pool{})
	if b, ok := v.(*sync.Pool).Get().(*[]byte); ok {
		return b
	}
	p.allocs.Add(1)
	b := make([]byte, size)
	return &b
}

func (p *bufPool) put(b *[]byte) {
	if v, ok := p.pools.Load(len(*b)); ok {
		v.(*sync.Pool).Put(b)
	}
}
