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
// from the blob), each on a goroutine of its own, so reading, hashing and
// sending overlap. Blocks are staged by Concurrency goroutines, each with
// its transactional MD5 so the service rejects a block damaged in transit;
// a staging goroutine hashes its own block, except block 0, whose MD5 is
// the whole-stream MD5 after one block and is not computed twice.
// Memory stays at (Concurrency+1) × BlockSize whatever the stream's size:
// the hashers read the same buffers the stagers send.
//
// Block ids are deterministic (index and MD5 of the block), so with Resume
// the blocks an interrupted upload already staged are not sent again.
// Nothing is committed before AfterStage and BeforeCommit have returned nil;
// their errors wrap ErrAborted. A failed If-Match / If-None-Match wraps
// ErrConflict.
//
// A stream that fits in one block, a full one included (and is not
// resumed), is sent as a single Put Blob, after the hooks, which halves the
// requests for small payloads.
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
	size int64

	// free holds the buffer tokens (see upload); a block gives its buffer
	// back once the last of its users released it.
	free chan *[]byte

	// staged holds the ids already on the service (Resume), read-only once
	// stagedReady is closed. The listing runs while the first block is
	// read and hashed, so it costs no round trip of its own.
	staged      map[string]bool
	stagedReady chan struct{}

	mu      sync.Mutex
	ids     []string
	nStaged int
	nSkip   int
}

// block is one BlockSize slice of the stream, shared by the two whole-stream
// hashers and the goroutine that stages it; its buffer goes back to free
// when all of them are done with it.
type block struct {
	index int
	buf   *[]byte
	n     int
	refs  atomic.Int32
	// first is closed by the MD5 hasher once md5 holds the MD5 of this
	// block, for block 0 only: the whole-stream MD5 after the first block
	// is that block's own MD5, so it is computed once and not twice.
	first chan struct{}
	md5   [16]byte
}

func (b *block) data() []byte { return (*b.buf)[:b.n] }

// release drops one user of b.
func (u *uploader) release(b *block) {
	if b.refs.Add(-1) == 0 {
		u.free <- b.buf
	}
}

// hasher folds the blocks it is sent into one whole-stream digest, in the
// order they were read. It runs beside the reader and the staging
// goroutines, so reading, hashing and sending overlap instead of taking
// turns; a stream's SHA-256 and MD5 are computed side by side.
type hasher struct {
	h    hash.Hash
	in   chan *block
	done chan struct{}
	sum  []byte
}

func (u *uploader) startHasher(ctx context.Context, h hash.Hash, md5First bool, capacity int) *hasher {
	hs := &hasher{h: h, in: make(chan *block, capacity), done: make(chan struct{})}
	go func() {
		defer close(hs.done)
		for b := range hs.in {
			// A cancelled upload fails whatever the digest: skip the work.
			if ctx.Err() == nil {
				hs.h.Write(b.data())
				if md5First && b.first != nil {
					hs.h.Sum(b.md5[:0])
				}
			}
			if b.first != nil && md5First {
				close(b.first)
			}
			u.release(b)
		}
		hs.sum = hs.h.Sum(nil)
	}()
	return hs
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
	// free holds Concurrency+1 buffer tokens: one being filled by this
	// goroutine, the others being hashed and staged. nil is a buffer not
	// yet taken from the pool, so a small stream never touches more than
	// one.
	n := opt.Concurrency + 1
	u := &uploader{
		c:    c,
		bb:   c.container(container).NewBlockBlobClient(name),
		opt:  opt,
		free: make(chan *[]byte, n),
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	u.stagedReady = make(chan struct{})
	if opt.Resume {
		go func() {
			defer close(u.stagedReady)
			if err := u.loadStaged(ctx); err != nil {
				cancel(err)
			}
		}()
	} else {
		close(u.stagedReady)
	}

	for range n {
		u.free <- nil
	}
	defer func() {
		for range n {
			if b := <-u.free; b != nil {
				c.bufs.put(b)
			}
		}
	}()

	// At most n blocks exist at once (one per buffer), so the hashers'
	// queues never make the reader wait.
	// The whole-stream MD5 only when it is stored (SetContentMD5): a
	// multi-gigabyte model file is proven by its SHA-256, and a second
	// full MD5 pass would cost as much CPU as the block checksums.
	shah := u.startHasher(ctx, sha256.New(), false, n)
	hashers := []*hasher{shah}
	var md5h *hasher
	if opt.SetContentMD5 {
		md5h = u.startHasher(ctx, md5.New(), true, n)
		hashers = append(hashers, md5h)
	}
	stopHashers := func() {
		for _, h := range hashers {
			close(h.in)
		}
		for _, h := range hashers {
			<-h.done
		}
	}

	jobs := make(chan *block)
	var wg sync.WaitGroup
	for range opt.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range jobs {
				if ctx.Err() == nil {
					if err := u.stage(ctx, b); err != nil {
						cancel(err)
					}
				}
				u.release(b)
			}
		}()
	}

	var single *block // the whole stream when it fits in one block
	readErr := func() error {
		for index := 0; ; index++ {
			var buf *[]byte
			select {
			case buf = <-u.free:
			case <-ctx.Done():
				return nil // the staging error is the cause
			}
			if buf == nil {
				buf = c.bufs.get(int(opt.BlockSize))
			}
			nr, err := io.ReadFull(r, *buf)
			if err == nil && index == 0 && !opt.Resume {
				// A full first block may be the whole stream, which is then
				// one Put Blob rather than a block and a block list: one
				// byte more tells. That byte, if any, goes back in front of
				// the rest of the stream, so it starts the next block.
				var peek [1]byte
				switch k, perr := io.ReadFull(r, peek[:]); {
				case k == 1:
					r = io.MultiReader(bytes.NewReader(peek[:]), r)
				case errors.Is(perr, io.EOF):
					err = io.EOF
				default:
					u.free <- buf
					return fmt.Errorf("read source at %d: %w", nr, perr)
				}
			}
			last := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
			if err != nil && !last {
				u.free <- buf
				return fmt.Errorf("read source at %d: %w", u.size, err)
			}
			if nr > 0 && index >= c.maxBlocks {
				u.free <- buf
				return fmt.Errorf("stream exceeds %d blocks of %d bytes: use a larger BlockSize", c.maxBlocks, opt.BlockSize)
			}
			if nr == 0 && index > 0 {
				u.free <- buf
				return nil
			}
			u.size += int64(nr)
			// Its users: the hashers and the stager (or, for a single Put
			// Blob, this goroutine).
			b := &block{index: index, buf: buf, n: nr}
			b.refs.Store(int32(len(hashers) + 1))
			isSingle := index == 0 && last && !opt.Resume
			if index == 0 && !isSingle && md5h != nil {
				b.first = make(chan struct{})
			}
			for _, h := range hashers {
				h.in <- b
			}
			if isSingle {
				single = b
				return nil
			}
			if nr == 0 {
				// An empty stream under Resume: an empty block list.
				u.release(b)
				return nil
			}
			u.mu.Lock()
			u.ids = append(u.ids, "")
			u.mu.Unlock()
			select {
			case jobs <- b:
			case <-ctx.Done():
				u.release(b)
				return nil
			}
			if last {
				return nil
			}
		}
	}()
	close(jobs)
	wg.Wait()
	<-u.stagedReady
	stopHashers()
	if single != nil {
		// Released after the Put Blob, which sends its bytes.
		defer u.release(single)
	}
	if readErr != nil {
		return Result{}, readErr
	}
	if err := context.Cause(ctx); err != nil {
		return Result{}, err
	}

	sum := Summary{Size: u.size}
	copy(sum.SHA256[:], shah.sum)
	switch {
	case md5h != nil:
		copy(sum.MD5[:], md5h.sum)
	case single != nil:
		// A Put Blob's transactional MD5 is the whole stream's: one block.
		sum.MD5 = md5.Sum(single.data())
	}
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
		return u.putBlob(ctx, sum, single.data())
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

func (u *uploader) stage(ctx context.Context, b *block) error {
	data := b.data()
	var sum [16]byte
	if b.first != nil {
		// The MD5 hasher computes block 0's MD5 on its way.
		select {
		case <-b.first:
			sum = b.md5
		case <-ctx.Done():
			return nil // the cause is already recorded
		}
	} else {
		sum = md5.Sum(data)
	}
	id := blockID(b.index, sum)
	select {
	case <-u.stagedReady:
	case <-ctx.Done():
		return nil
	}
	u.mu.Lock()
	u.ids[b.index] = id
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
		return fmt.Errorf("stage block %d: %w", b.index, normalize(err))
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
