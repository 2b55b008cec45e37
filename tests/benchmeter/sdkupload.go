package benchmeter

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

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"golang.org/x/sync/errgroup"
)

// SDKUploadParams shape a baseline upload.
type SDKUploadParams struct {
	BlockSize   int64
	Concurrency int
	// Integrity does the work Offload does for every upload: the SHA-256 of
	// the stream (stored as metadata Sha256), a transactional MD5 on every
	// request that carries bytes. With ContentMD5 also the whole stream's
	// MD5, stored as Content-MD5 (a single Put's transactional MD5 is that
	// same digest, computed once).
	Integrity  bool
	ContentMD5 bool
}

// SDKUpload is the baseline Offload's uploads are measured against: the
// azblob SDK's own calls, with nothing of Offload's, in the same request
// pattern — a stream that fits in one block (a full one included) is one
// Put Blob, a longer one
// is staged in BlockSize blocks by Concurrency goroutines and committed.
// The stream is read once; with Integrity its digests are computed on a
// goroutine of their own beside the staging, as a careful hand-written
// uploader would. It returns the hex SHA-256 ("" without Integrity).
func SDKUpload(ctx context.Context, bb *blockblob.Client, r io.Reader, p SDKUploadParams) (string, error) {
	if p.Concurrency <= 0 {
		p.Concurrency = 1
	}
	u := newSDKUploader(bb, p)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go u.hash()
	var stagers errgroup.Group
	stagers.SetLimit(p.Concurrency)
	single, readErr := u.read(ctx, r, func(b sdkBlock) {
		stagers.Go(func() error {
			if ctx.Err() == nil {
				if err := u.stage(ctx, b); err != nil {
					cancel(err)
				}
			}
			b.wg.Done()
			return nil
		})
	})
	stagers.Wait()
	close(u.hashIn)
	<-u.hashDone
	if readErr != nil {
		return "", readErr
	}
	if err := context.Cause(ctx); err != nil {
		return "", err
	}
	return u.finish(ctx, single)
}

// sdkUploader is the state of one SDKUpload.
type sdkUploader struct {
	bb        *blockblob.Client
	p         SDKUploadParams
	free      chan []byte // Concurrency+1 buffers: one being read, the others hashed and staged
	sha, md5s hash.Hash   // nil without Integrity (md5s without ContentMD5)
	hashIn    chan sdkBlock
	hashDone  chan struct{}
	mu        sync.Mutex
	ids       []string
}

type sdkBlock struct {
	index int
	buf   []byte
	n     int
	wg    *sync.WaitGroup // hasher + stager
}

func newSDKUploader(bb *blockblob.Client, p SDKUploadParams) *sdkUploader {
	u := &sdkUploader{bb: bb, p: p, free: make(chan []byte, p.Concurrency+1),
		hashIn: make(chan sdkBlock, p.Concurrency+1), hashDone: make(chan struct{})}
	for range p.Concurrency + 1 {
		u.free <- make([]byte, p.BlockSize)
	}
	if p.Integrity {
		u.sha = sha256.New()
		if p.ContentMD5 {
			u.md5s = md5.New()
		}
	}
	return u
}

// hash folds the blocks into the whole-stream digests, in read order.
func (u *sdkUploader) hash() {
	defer close(u.hashDone)
	for b := range u.hashIn {
		if u.sha != nil {
			u.sha.Write(b.buf[:b.n])
			if u.md5s != nil {
				u.md5s.Write(b.buf[:b.n])
			}
		}
		b.wg.Done()
	}
}

// read reads r in blocks, hands each to the hasher and to stage, and
// returns the whole stream when it fits in one block (a single Put Blob).
func (u *sdkUploader) read(ctx context.Context, r io.Reader, stage func(sdkBlock)) (single []byte, err error) {
	for index := 0; ; index++ {
		buf := <-u.free
		n, err := io.ReadFull(r, buf)
		if err == nil && index == 0 {
			// A full first block may be the whole stream (one Put Blob, as
			// Offload sends it): one byte more tells.
			var peek [1]byte
			switch k, perr := io.ReadFull(r, peek[:]); {
			case k == 1:
				r = io.MultiReader(bytes.NewReader(peek[:]), r)
			case errors.Is(perr, io.EOF):
				err = io.EOF
			default:
				err = perr
			}
		}
		last := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !last {
			return nil, err
		}
		if n == 0 && index > 0 {
			return nil, nil
		}
		wg := &sync.WaitGroup{}
		wg.Add(2)
		b := sdkBlock{index: index, buf: buf, n: n, wg: wg}
		u.hashIn <- b
		go func() { wg.Wait(); u.free <- buf }()
		if index == 0 && last {
			wg.Done() // no stager: the Put sends it
			return buf[:n], nil
		}
		u.mu.Lock()
		u.ids = append(u.ids, "")
		u.mu.Unlock()
		stage(b)
		if last || ctx.Err() != nil {
			return nil, nil
		}
	}
}

// stage sends one block, with its transactional MD5 under Integrity.
func (u *sdkUploader) stage(ctx context.Context, b sdkBlock) error {
	data := b.buf[:b.n]
	var opt *blockblob.StageBlockOptions
	var sum [16]byte // Offload's block ids name the content; plain ones only the index
	if u.p.Integrity {
		sum = md5.Sum(data)
		opt = &blockblob.StageBlockOptions{TransactionalValidation: blob.TransferValidationTypeMD5(sum[:])}
	}
	id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%08d-%032x", b.index, sum))
	u.mu.Lock()
	u.ids[b.index] = id
	u.mu.Unlock()
	_, err := u.bb.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(data)), opt)
	return err
}

// finish puts the single block or commits the block list, with the
// digests as Offload stores them; it returns the hex SHA-256.
func (u *sdkUploader) finish(ctx context.Context, single []byte) (string, error) {
	var shaHex string
	var md map[string]*string
	headers := &blob.HTTPHeaders{}
	if u.p.Integrity {
		shaHex = hex.EncodeToString(u.sha.Sum(nil))
		md = map[string]*string{"Sha256": &shaHex}
		if u.md5s != nil {
			headers.BlobContentMD5 = u.md5s.Sum(nil)
		}
	}
	if single == nil {
		_, err := u.bb.CommitBlockList(ctx, u.ids, &blockblob.CommitBlockListOptions{HTTPHeaders: headers, Metadata: md})
		return shaHex, err
	}
	opt := &blockblob.UploadOptions{HTTPHeaders: headers, Metadata: md}
	if u.p.Integrity {
		sum := headers.BlobContentMD5
		if sum == nil {
			s := md5.Sum(single)
			sum = s[:]
		}
		opt.TransactionalValidation = blob.TransferValidationTypeMD5(sum)
	}
	_, err := u.bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(single)), opt)
	return shaHex, err
}
