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
	type blk struct {
		index int
		buf   []byte
		n     int
		wg    *sync.WaitGroup // hasher + stager
	}
	free := make(chan []byte, p.Concurrency+1)
	for range p.Concurrency + 1 {
		free <- make([]byte, p.BlockSize)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	var sha, whole hash.Hash
	hashIn := make(chan blk, p.Concurrency+1)
	hashDone := make(chan struct{})
	if p.Integrity {
		sha = sha256.New()
		if p.ContentMD5 {
			whole = md5.New()
		}
	}
	go func() {
		defer close(hashDone)
		for b := range hashIn {
			if sha != nil {
				sha.Write(b.buf[:b.n])
				if whole != nil {
					whole.Write(b.buf[:b.n])
				}
			}
			b.wg.Done()
		}
	}()

	var mu sync.Mutex
	var ids []string
	jobs := make(chan blk)
	var stagers sync.WaitGroup
	for range p.Concurrency {
		stagers.Add(1)
		go func() {
			defer stagers.Done()
			for b := range jobs {
				if ctx.Err() == nil {
					data := b.buf[:b.n]
					var opt *blockblob.StageBlockOptions
					var sum [16]byte // Offload's block ids name the content; plain ones only the index
					if p.Integrity {
						sum = md5.Sum(data)
						opt = &blockblob.StageBlockOptions{TransactionalValidation: blob.TransferValidationTypeMD5(sum[:])}
					}
					id := base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%08d-%032x", b.index, sum))
					mu.Lock()
					ids[b.index] = id
					mu.Unlock()
					if _, err := bb.StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(data)), opt); err != nil {
						cancel(err)
					}
				}
				b.wg.Done()
			}
		}()
	}

	var single []byte
	var readErr error
	for index := 0; ; index++ {
		buf := <-free
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
			readErr = err
			break
		}
		if n == 0 && index > 0 {
			break
		}
		wg := &sync.WaitGroup{}
		wg.Add(2)
		b := blk{index: index, buf: buf, n: n, wg: wg}
		hashIn <- b
		go func() { wg.Wait(); free <- buf }()
		if index == 0 && last {
			single = buf[:n]
			wg.Done() // no stager: the Put below sends it
			break
		}
		mu.Lock()
		ids = append(ids, "")
		mu.Unlock()
		jobs <- b
		if last || ctx.Err() != nil {
			break
		}
	}
	close(jobs)
	stagers.Wait()
	close(hashIn)
	<-hashDone
	if readErr != nil {
		return "", readErr
	}
	if err := context.Cause(ctx); err != nil {
		return "", err
	}
	var shaHex string
	var md map[string]*string
	headers := &blob.HTTPHeaders{}
	if p.Integrity {
		shaHex = hex.EncodeToString(sha.Sum(nil))
		md = map[string]*string{"Sha256": &shaHex}
		if whole != nil {
			headers.BlobContentMD5 = whole.Sum(nil)
		}
	}
	if single != nil {
		opt := &blockblob.UploadOptions{HTTPHeaders: headers, Metadata: md}
		if p.Integrity {
			sum := headers.BlobContentMD5
			if sum == nil {
				s := md5.Sum(single)
				sum = s[:]
			}
			opt.TransactionalValidation = blob.TransferValidationTypeMD5(sum)
		}
		_, err := bb.Upload(ctx, streaming.NopCloser(bytes.NewReader(single)), opt)
		return shaHex, err
	}
	_, err := bb.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{HTTPHeaders: headers, Metadata: md})
	return shaHex, err
}
