package models

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/hartonomous/offload/internal/benchmeter"
	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/config"
)

// benchFiles is the model set: 16 files of OFFLOAD_BENCH_MODEL_MB MiB each
// (default 8: 128 MiB in all; OFFLOAD_BENCH_SCALE=full: 64, the issue's
// 1 GiB).
func benchFiles(b *testing.B) ([]string, int64) {
	mb := int64(8)
	if os.Getenv("OFFLOAD_BENCH_SCALE") == "full" {
		mb = 64
	}
	if v := os.Getenv("OFFLOAD_BENCH_MODEL_MB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("OFFLOAD_BENCH_MODEL_MB=%q: want a positive number of MiB", v)
		}
		mb = n
	}
	dir := b.TempDir()
	var paths []string
	var total int64
	for i := 0; i < 16; i++ {
		p, _ := writeModel(b, dir, uint64(1000+i), mb<<20)
		paths = append(paths, p)
		total += mb << 20
	}
	return paths, total
}

// settle flushes dirty pages to disk before a timed region: the model files
// just written (and Azurite's files from the previous round) would otherwise
// be written back at random inside the measurement, which on this 2-core
// machine moved results by ±30% from run to run.
func settle() { _ = exec.Command("sync").Run() }

// BenchmarkUploadModels: Service.Upload of the model set with the
// production block size and concurrency (hash, name check, resume lookup,
// parallel staging, metadata).
func BenchmarkUploadModels(b *testing.B) {
	paths, total := benchFiles(b)
	e := setup(b, func(c *Config) { c.BlockSize, c.Concurrency = DefaultBlockSize, DefaultConcurrency })
	b.SetBytes(total)
	m := benchmeter.New(az.Get(b).Pids()...).CountRequests(e.reqs)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m.Stop()
		// A fresh container each round, or everything would be skipped;
		// Upload creates it, once per run as in production.
		svc := e.with(func(c *Config) { c.Container = fmt.Sprintf("%s-r%d", e.container, i) })
		settle()
		m.Start()
		b.StartTimer()
		res, err := svc.Upload(e.ctx, UploadParams{Files: paths})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range res {
			if r.Outcome != OutcomeUploaded {
				b.Fatalf("%+v", r)
			}
		}
	}
	b.StopTimer()
	m.Report(b, total*int64(b.N))
	m.ReportRequests(b, int64(len(paths)*b.N))
}

// BenchmarkUploadSDKEqual is BenchmarkUploadModels' baseline: the same
// files uploaded with the azblob SDK's own calls doing the same integrity
// work — SHA-256 of each file (stored as metadata), a transactional MD5 on
// every block, no whole-file Content-MD5 (Offload stores none on model
// blobs) — with the same block size and concurrency, one file at a time.
func BenchmarkUploadSDKEqual(b *testing.B) {
	benchSDK(b, func(ctx context.Context, cc *container.Client, f *os.File) error {
		_, err := benchmeter.SDKUpload(ctx, cc.NewBlockBlobClient(filepath.Base(f.Name())), f,
			benchmeter.SDKUploadParams{BlockSize: DefaultBlockSize, Concurrency: DefaultConcurrency, Integrity: true})
		return err
	})
}

// BenchmarkUploadSDK: the same request pattern without any integrity work.
func BenchmarkUploadSDK(b *testing.B) {
	benchSDK(b, func(ctx context.Context, cc *container.Client, f *os.File) error {
		_, err := benchmeter.SDKUpload(ctx, cc.NewBlockBlobClient(filepath.Base(f.Name())), f,
			benchmeter.SDKUploadParams{BlockSize: DefaultBlockSize, Concurrency: DefaultConcurrency})
		return err
	})
}

// BenchmarkUploadCeiling: the same files with azblob's own UploadFile, tuned
// alike (8 MiB blocks, 8 in parallel), no hashing: what the SDK alone does
// on this machine (a file up to 256 MiB is one Put Blob).
func BenchmarkUploadCeiling(b *testing.B) {
	benchSDK(b, func(ctx context.Context, cc *container.Client, f *os.File) error {
		_, err := cc.NewBlockBlobClient(filepath.Base(f.Name())).UploadFile(ctx, f, &blockblob.UploadFileOptions{
			BlockSize: DefaultBlockSize, Concurrency: DefaultConcurrency,
		})
		return err
	})
}

// benchSDK times up over the model set, one file at a time, into a fresh
// container each round.
func benchSDK(b *testing.B, up func(context.Context, *container.Client, *os.File) error) {
	paths, total := benchFiles(b)
	srv := az.Get(b)
	ctx := context.Background()
	reqs := &blobstore.Requests{}
	svc, err := benchmeter.SDKClient(srv.ConnectionString, reqs)
	if err != nil {
		b.Fatal(err)
	}
	blobs, err := blobstore.New(config.Storage{ConnectionString: srv.ConnectionString}, blobstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	uniq.Lock()
	uniq.n++
	base := fmt.Sprintf("ceiling-%d", uniq.n)
	uniq.Unlock()
	b.SetBytes(total)
	m := benchmeter.New(srv.Pids()...).CountRequests(reqs)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		m.Stop()
		container := fmt.Sprintf("%s-r%d", base, i)
		if err := blobs.EnsureContainer(ctx, container); err != nil {
			b.Fatal(err)
		}
		cc := svc.ServiceClient().NewContainerClient(container)
		settle()
		m.Start()
		b.StartTimer()
		for _, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			err = up(ctx, cc, f)
			f.Close()
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	m.Report(b, total*int64(b.N))
	m.ReportRequests(b, int64(len(paths)*b.N))
}
