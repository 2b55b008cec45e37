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
	"golang.org/x/sync/errgroup"
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
	src  io.Reader // the stream, read once by readBlocks
	size int64

	// free holds the buffer tokens (see newUploader); a block gives its buffer
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
	u, err := c.newUploader(container, name, r, opt)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	u.listStaged(ctx, cancel)
	defer u.putBuffers()
	hs := u.startHashers(ctx)
	var stagers errgroup.Group
	stagers.SetLimit(u.opt.Concurrency)
	single, readErr := u.readBlocks(ctx, hs, func(b *block) {
		stagers.Go(func() error {
			if ctx.Err() == nil {
				if err := u.stage(ctx, b); err != nil {
					cancel(err)
				}
			}
			u.release(b)
			return nil
		})
	})
	stagers.Wait()
	<-u.stagedReady
	hs.stop()
	if single != nil {
		defer u.release(single) // after the Put Blob, which sends its bytes
	}
	if readErr != nil {
		return Result{}, readErr
	}
	if err := context.Cause(ctx); err != nil {
		return Result{}, err
	}
	return u.finish(ctx, hs.summary(u.size, single), single)
}

// newUploader applies opt's defaults and fills free with Concurrency+1
// buffer tokens: one being filled by the reader, the others being hashed
// and staged. nil is a buffer not yet taken from the pool, so a small
// stream never touches more than one.
func (c *Client) newUploader(container, name string, r io.Reader, opt UploadOptions) (*uploader, error) {
	if opt.BlockSize == 0 {
		opt.BlockSize = DefaultBlockSize
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultConcurrency
	}
	if opt.BlockSize < 0 || opt.BlockSize > MaxBlockSize {
		return nil, fmt.Errorf("block size %d out of range (1..%d)", opt.BlockSize, int64(MaxBlockSize))
	}
	n := opt.Concurrency + 1
	u := &uploader{
		c:           c,
		bb:          c.container(container).NewBlockBlobClient(name),
		opt:         opt,
		src:         r,
		free:        make(chan *[]byte, n),
		stagedReady: make(chan struct{}),
	}
	for range n {
		u.free <- nil
	}
	return u, nil
}

// putBuffers gives the buffers back to the pool; it waits until every
// block has released its own.
func (u *uploader) putBuffers() {
	for range cap(u.free) {
		if b := <-u.free; b != nil {
			u.c.bufs.put(b)
		}
	}
}

// listStaged lists, under Resume, the blocks an interrupted upload already
// staged, while the first block is read; a failure cancels the upload.
func (u *uploader) listStaged(ctx context.Context, cancel context.CancelCauseFunc) {
	if !u.opt.Resume {
		close(u.stagedReady)
		return
	}
	go func() {
		defer close(u.stagedReady)
		if err := u.loadStaged(ctx); err != nil {
			cancel(err)
		}
	}()
}

// hashers are the whole-stream digests: the SHA-256, and the MD5 only when
// it is stored (SetContentMD5): a multi-gigabyte model file is proven by
// its SHA-256, and a second full MD5 pass would cost as much CPU as the
// block checksums.
type hashers struct {
	sha, md5 *hasher // md5 nil when not stored
	all      []*hasher
}

// startHashers starts them. At most cap(free) blocks exist at once (one
// per buffer), so their queues never make the reader wait.
func (u *uploader) startHashers(ctx context.Context) hashers {
	n := cap(u.free)
	hs := hashers{sha: u.startHasher(ctx, sha256.New(), false, n)}
	hs.all = []*hasher{hs.sha}
	if u.opt.SetContentMD5 {
		hs.md5 = u.startHasher(ctx, md5.New(), true, n)
		hs.all = append(hs.all, hs.md5)
	}
	return hs
}

// stop ends their input and waits for their sums.
func (hs hashers) stop() {
	for _, h := range hs.all {
		close(h.in)
	}
	for _, h := range hs.all {
		<-h.done
	}
}

// summary is the stream's size and digests, once stop has returned.
func (hs hashers) summary(size int64, single *block) Summary {
	sum := Summary{Size: size}
	copy(sum.SHA256[:], hs.sha.sum)
	switch {
	case hs.md5 != nil:
		copy(sum.MD5[:], hs.md5.sum)
	case single != nil:
		// A Put Blob's transactional MD5 is the whole stream's: one block.
		sum.MD5 = md5.Sum(single.data())
	}
	return sum
}

// readBlocks reads the stream in blocks and hands each to the hashers and
// to stage. When the whole stream fits in one block (and is not resumed),
// that block is returned instead of staged: it is sent as one Put Blob.
// It returns on the first read error, at the end of the stream, or when
// ctx ends (the staging error is then the cause).
func (u *uploader) readBlocks(ctx context.Context, hs hashers, stage func(*block)) (single *block, err error) {
	for index := 0; ; index++ {
		var buf *[]byte
		select {
		case buf = <-u.free:
		case <-ctx.Done():
			return nil, nil
		}
		if buf == nil {
			buf = u.c.bufs.get(int(u.opt.BlockSize))
		}
		nr, last, err := u.fill(buf, index)
		if err != nil || (nr == 0 && index > 0) {
			u.free <- buf
			return nil, err
		}
		u.size += int64(nr)
		// Its users: the hashers and the stager (or, for a single Put
		// Blob, this goroutine).
		b := &block{index: index, buf: buf, n: nr}
		b.refs.Store(int32(len(hs.all) + 1))
		isSingle := index == 0 && last && !u.opt.Resume
		if index == 0 && !isSingle && hs.md5 != nil {
			b.first = make(chan struct{})
		}
		for _, h := range hs.all {
			h.in <- b
		}
		switch {
		case isSingle:
			return b, nil
		case nr == 0:
			// An empty stream under Resume: an empty block list.
			u.release(b)
			return nil, nil
		}
		u.mu.Lock()
		u.ids = append(u.ids, "")
		u.mu.Unlock()
		stage(b)
		if last {
			return nil, nil
		}
	}
}

// fill reads block index of the stream into buf: nr bytes, and whether
// they end the stream.
func (u *uploader) fill(buf *[]byte, index int) (nr int, last bool, err error) {
	nr, err = io.ReadFull(u.src, *buf)
	if err == nil && index == 0 && !u.opt.Resume {
		// A full first block may be the whole stream, which is then one
		// Put Blob rather than a block and a block list: one byte more
		// tells. That byte, if any, goes back in front of the rest of the
		// stream, so it starts the next block.
		var peek [1]byte
		switch k, perr := io.ReadFull(u.src, peek[:]); {
		case k == 1:
			u.src = io.MultiReader(bytes.NewReader(peek[:]), u.src)
		case errors.Is(perr, io.EOF):
			err = io.EOF
		default:
			return 0, false, fmt.Errorf("read source at %d: %w", nr, perr)
		}
	}
	last = errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	if err != nil && !last {
		return 0, false, fmt.Errorf("read source at %d: %w", u.size, err)
	}
	if nr > 0 && index >= u.c.maxBlocks {
		return 0, false, fmt.Errorf("stream exceeds %d blocks of %d bytes: use a larger BlockSize", u.c.maxBlocks, u.opt.BlockSize)
	}
	return nr, last, nil
}

// finish runs the hooks (nothing is committed unless they return nil),
// then sends the single block as a Put Blob or commits the block list.
func (u *uploader) finish(ctx context.Context, sum Summary, single *block) (Result, error) {
	if u.opt.AfterStage != nil {
		if err := u.opt.AfterStage(); err != nil {
			return Result{Summary: sum}, fmt.Errorf("%w: %w", ErrAborted, err)
		}
	}
	if u.opt.BeforeCommit != nil {
		if err := u.opt.BeforeCommit(sum); err != nil {
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
