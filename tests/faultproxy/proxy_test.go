package faultproxy_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue/queueerror"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/tests/faultproxy"
)

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed+1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func blobs(t *testing.T, cs string, opt blobstore.Options) *blobstore.Client {
	t.Helper()
	c, err := blobstore.New(config.Storage{ConnectionString: cs}, opt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readAll(t *testing.T, c *blobstore.Client, container, name string) []byte {
	t.Helper()
	body, _, err := c.Download(context.Background(), container, name, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noRetries is an azblob client through cs whose every error reaches the
// caller: the first try's failure is the one to classify.
func noRetries(t *testing.T, cs string) *azblob.Client {
	t.Helper()
	c, err := azblob.NewClientFromConnectionString(cs, &azblob.ClientOptions{
		ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// With Rate 0 the proxy changes nothing: SharedKey-signed blob and queue
// requests (Host rewritten) pass, multi-block bodies stream both ways.
func TestTransparent(t *testing.T) {
	ctx := context.Background()
	e := setup(t, faultproxy.Config{Seed: 1, Rate: 0})
	bc := blobs(t, e.cs, blobstore.Options{})
	if err := bc.EnsureContainer(ctx, e.name); err != nil {
		t.Fatal(err)
	}
	data := randBytes(2<<20+123, 1)
	res, err := bc.Upload(ctx, e.name, "dir/big.bin", bytes.NewReader(data), blobstore.UploadOptions{
		BlockSize: 512 << 10, HashMetadataKey: "Sha256", SetContentMD5: true,
		Metadata: map[string]string{"ModelId": "7"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.BlocksStaged != 5 {
		t.Errorf("staged %d blocks, want 5", res.BlocksStaged)
	}
	if got := readAll(t, bc, e.name, "dir/big.bin"); !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes through the proxy, not the %d uploaded", len(got), len(data))
	}
	// Straight from Azurite: the proxy forwarded the writes, it did not fake them.
	direct := blobs(t, e.direct, blobstore.Options{})
	if got := readAll(t, direct, e.name, "dir/big.bin"); !bytes.Equal(got, data) {
		t.Fatal("Azurite holds other bytes than were uploaded through the proxy")
	}
	p, err := bc.Properties(ctx, e.name, "dir/big.bin")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if p.Meta("Sha256") != hex.EncodeToString(sum[:]) || p.Meta("ModelId") != "7" || p.Size != int64(len(data)) {
		t.Errorf("properties through the proxy: %+v", p)
	}
	var listed []string
	if err := bc.List(ctx, e.name, "", "", func(it blobstore.Item) error { listed = append(listed, it.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0] != "dir/big.bin" {
		t.Errorf("listed %v", listed)
	}

	qc, err := broker.New(config.Storage{ConnectionString: e.cs}, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := qc.Ensure(ctx, e.name); err != nil {
		t.Fatal(err)
	}
	if _, err := qc.Publish(ctx, e.name, []byte(`{"segmentId":42}`), 0); err != nil {
		t.Fatal(err)
	}
	msgs, err := qc.Receive(ctx, e.name, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || string(msgs[0].Body) != `{"segmentId":42}` {
		t.Fatalf("received %+v", msgs)
	}
	if err := qc.Complete(ctx, msgs[0]); err != nil {
		t.Fatal(err)
	}

	for _, p := range []*faultproxy.Proxy{e.blob, e.queue} {
		s := p.Stats()
		if s.Requests == 0 || s.Forwarded != s.Requests || s.Faulted() != 0 {
			t.Errorf("stats of %s: %+v", p.URL(), s)
		}
	}
}

// failure classes
const (
	succeeds  = "success"
	transport = "transport error"
)

func classify(err error) string {
	if err == nil {
		return succeeds
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf("HTTP %d %s", re.StatusCode, re.ErrorCode)
	}
	return transport
}

// With Rate 1 and a single kind, a Put Blob (no retries) fails in the
// kind's way, and the write reached Azurite exactly when the kind forwards.
func TestFaultClassesPut(t *testing.T) {
	for _, tc := range []struct {
		kind   faultproxy.Kind
		class  string
		landed bool
	}{
		{faultproxy.ResetBeforeForward, transport, false},
		{faultproxy.ResetAfterForward, transport, true},
		{faultproxy.ResetMidBody, transport, true},
		{faultproxy.Truncate, transport, true},
		{faultproxy.Delay, succeeds, true},
		{faultproxy.ServerBusy503, "HTTP 503 ServerBusy", false},
		{faultproxy.Internal500, "HTTP 500 InternalError", false},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			ctx := context.Background()
			e := setup(t, faultproxy.Config{Seed: 5, Rate: 1, Faults: []faultproxy.Kind{tc.kind}, MaxDelay: 20 * time.Millisecond})
			direct := blobs(t, e.direct, blobstore.Options{})
			if err := direct.EnsureContainer(ctx, e.name); err != nil {
				t.Fatal(err)
			}
			bb := noRetries(t, e.cs).ServiceClient().NewContainerClient(e.name).NewBlockBlobClient("b.bin")
			_, err := bb.Upload(ctx, streaming.NopCloser(bytes.NewReader([]byte("payload"))), nil)
			if got := classify(err); got != tc.class {
				t.Fatalf("client saw %s (%v), want %s", got, err, tc.class)
			}
			exists, err := direct.Exists(ctx, e.name, "b.bin")
			if err != nil {
				t.Fatal(err)
			}
			if exists != tc.landed {
				t.Errorf("blob exists in Azurite: %v, want %v", exists, tc.landed)
			}
			s := e.blob.Stats()
			if s.Requests == 0 || s.Faults[tc.kind] != s.Requests || s.Faulted() != s.Requests {
				t.Errorf("stats %+v: every request should have got %v", s, tc.kind)
			}
			if wantFwd := map[bool]int64{true: s.Requests, false: 0}[tc.kind.Forwards()]; s.Forwarded != wantFwd {
				t.Errorf("forwarded %d of %d requests, want %d", s.Forwarded, s.Requests, wantFwd)
			}
		})
	}
}

// A download's body is cut: after a reset the client sees an error, after
// a clean close an unexpected EOF; never a short body that looks whole.
func TestFaultClassesDownload(t *testing.T) {
	data := randBytes(256<<10, 2)
	for _, kind := range []faultproxy.Kind{faultproxy.ResetMidBody, faultproxy.Truncate, faultproxy.Internal500} {
		t.Run(kind.String(), func(t *testing.T) {
			ctx := context.Background()
			e := setup(t, faultproxy.Config{Seed: 6, Rate: 1, Faults: []faultproxy.Kind{kind}})
			direct := blobs(t, e.direct, blobstore.Options{})
			if err := direct.EnsureContainer(ctx, e.name); err != nil {
				t.Fatal(err)
			}
			if _, err := direct.Upload(ctx, e.name, "d.bin", bytes.NewReader(data), blobstore.UploadOptions{}); err != nil {
				t.Fatal(err)
			}
			b := noRetries(t, e.cs).ServiceClient().NewContainerClient(e.name).NewBlobClient("d.bin")
			var got []byte
			resp, err := b.DownloadStream(ctx, nil)
			if err == nil {
				// The raw body, without azblob's reconnecting RetryReader.
				got, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			switch kind {
			case faultproxy.Internal500:
				if c := classify(err); c != "HTTP 500 InternalError" {
					t.Fatalf("client saw %s (%v)", c, err)
				}
			case faultproxy.Truncate:
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("client saw %v, want unexpected EOF", err)
				}
			default:
				if c := classify(err); c != transport {
					t.Fatalf("client saw %s (%v), want %s", c, err, transport)
				}
			}
			if len(got) >= len(data) {
				t.Errorf("read %d of %d bytes despite the fault", len(got), len(data))
			}
		})
	}
}

func TestServerBusyOnQueue(t *testing.T) {
	ctx := context.Background()
	e := setup(t, faultproxy.Config{Seed: 7, Rate: 1, Faults: []faultproxy.Kind{faultproxy.ServerBusy503}})
	q, err := azqueue.NewQueueClientFromConnectionString(e.cs, e.name, &azqueue.ClientOptions{
		ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = q.Create(ctx, nil)
	if !queueerror.HasCode(err, queueerror.ServerBusy) {
		t.Fatalf("create queue through a ServerBusy proxy: %v", err)
	}
}

// The nastiest case for idempotency: Put Message reached the queue, the
// answer was lost, the retry policy sent it again. Each try left a message:
// duplicates, never a loss, and the caller still gets an error.
func TestRetryAfterForwardDuplicatesQueuePut(t *testing.T) {
	ctx := context.Background()
	e := setup(t, faultproxy.Config{Seed: 8, Rate: 0, Faults: []faultproxy.Kind{faultproxy.ResetAfterForward}})
	direct, err := broker.New(config.Storage{ConnectionString: e.direct}, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := direct.Ensure(ctx, e.name); err != nil {
		t.Fatal(err)
	}
	qc, err := broker.New(config.Storage{ConnectionString: e.cs}, broker.Options{
		Retry: policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 10 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.queue.SetRate(1)
	if _, err := qc.Publish(ctx, e.name, []byte(`{"segmentId":1}`), 0); err == nil {
		t.Fatal("publish succeeded although every answer was lost")
	}
	e.queue.SetRate(0)
	n, err := direct.Count(ctx, e.name)
	if err != nil {
		t.Fatal(err)
	}
	if s := e.queue.Stats(); n != 3 || s.Faults[faultproxy.ResetAfterForward] != 3 {
		t.Fatalf("queue holds %d messages after 3 tries (stats %+v), want 3", n, s)
	}
}

// With 30% of requests faulted and the SDK's retry policy on, every upload
// and every download of a batch succeeds with the right content.
func TestRetriesCope(t *testing.T) {
	ctx := context.Background()
	e := setup(t, faultproxy.Config{Seed: 2024, Rate: 0.3, MaxDelay: 20 * time.Millisecond})
	// Blobstore's policy with short delays: the test is about whether
	// retrying copes, not about how long it waits.
	bc := blobs(t, e.cs, blobstore.Options{Retry: policy.RetryOptions{
		RetryDelay: 2 * time.Millisecond, MaxRetryDelay: 20 * time.Millisecond, TryTimeout: 10 * time.Second,
	}})
	e.blob.SetRate(0)
	if err := bc.EnsureContainer(ctx, e.name); err != nil {
		t.Fatal(err)
	}
	e.blob.SetRate(0.3)

	const n = 50
	content := func(i int) []byte {
		if i%5 == 0 {
			return randBytes(40<<10, uint64(i)) // three blocks: Stage Block ×3 + Put Block List
		}
		return randBytes(1000+i, uint64(i)) // one Put Blob
	}
	name := func(i int) string { return fmt.Sprintf("segment/%02d.bin", i) }
	for i := range n {
		// Sequential with Concurrency 1: a deterministic request order.
		_, err := bc.Upload(ctx, e.name, name(i), bytes.NewReader(content(i)), blobstore.UploadOptions{
			BlockSize: 16 << 10, Concurrency: 1, HashMetadataKey: "Sha256",
		})
		if err != nil {
			t.Fatalf("upload %d despite retries: %v", i, err)
		}
	}
	for i := range n {
		if got := readAll(t, bc, e.name, name(i)); !bytes.Equal(got, content(i)) {
			t.Fatalf("blob %d read through the faulty proxy: %d bytes, not the %d uploaded", i, len(got), len(content(i)))
		}
	}
	faulty := e.blob.Stats()
	if faulty.Faulted() < 20 {
		t.Fatalf("only %d of %d requests faulted: the test shows nothing", faulty.Faulted(), faulty.Requests)
	}
	t.Logf("faulty phase: %d requests, faults %v, retried %d", faulty.Requests, faulty.Faults, faulty.Retried)
	// Every request that failed was sent again (a Delay does not fail).
	if want := faulty.Faulted() - faulty.Faults[faultproxy.Delay]; faulty.Retried != want {
		t.Errorf("retried %d requests, want the %d that got a failing fault", faulty.Retried, want)
	}

	// Verification without faults.
	e.blob.SetRate(0)
	for i := range n {
		p, err := bc.Properties(ctx, e.name, name(i))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(content(i))
		if p.Size != int64(len(content(i))) || p.Meta("Sha256") != hex.EncodeToString(sum[:]) {
			t.Errorf("blob %d: size %d sha256 %s", i, p.Size, p.Meta("Sha256"))
		}
	}
	if after := e.blob.Stats(); after.Faulted() != faulty.Faulted() {
		t.Errorf("faults after SetRate(0): %d, before %d", after.Faulted(), faulty.Faulted())
	}
}

// Same seed, same requests in the same order: the same answers.
func TestSameSeedSameFaults(t *testing.T) {
	run := func(seed int64) []int {
		e := setup(t, faultproxy.Config{Seed: seed, Rate: 0.5, MaxDelay: time.Millisecond,
			Faults: []faultproxy.Kind{faultproxy.ServerBusy503, faultproxy.Internal500, faultproxy.Delay}})
		var codes []int
		for i := range 40 {
			// Unsigned: Azurite answers 4xx; the faults answer 500 / 503.
			resp, err := http.Get(fmt.Sprintf("%s/devstoreaccount1/c%d?comp=list", e.blob.URL(), i))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes = append(codes, resp.StatusCode)
		}
		return codes
	}
	a, b, c := run(11), run(11), run(12)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("seed 11 twice:\n%v\n%v", a, b)
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatalf("seeds 11 and 12 gave the same answers: %v", a)
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	for _, cfg := range []faultproxy.Config{
		{Target: "http://127.0.0.1:1", Rate: 1.5},
		{Target: "http://127.0.0.1:1", Rate: -0.1},
		{Target: "https://127.0.0.1:1"},
		{Target: "http://127.0.0.1:1/devstoreaccount1"},
		{Target: ""},
		{Target: "http://127.0.0.1:1", Faults: []faultproxy.Kind{faultproxy.None}},
	} {
		if p, err := faultproxy.Start(cfg); err == nil {
			p.Close()
			t.Errorf("Start(%+v) accepted", cfg)
		}
	}
}

func TestDevConnectionString(t *testing.T) {
	got := faultproxy.DevConnectionString("http://127.0.0.1:5/", "http://127.0.0.1:6")
	want := "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + config.DevAccountKey +
		";BlobEndpoint=http://127.0.0.1:5/devstoreaccount1;QueueEndpoint=http://127.0.0.1:6/devstoreaccount1;"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// Stage Block and Put Block List that were applied but whose answers were
// lost succeed when retried, and the blob holds the right bytes: the
// retries blobstore's policy makes on them are safe.
func TestBlockRetryAfterApplied(t *testing.T) {
	ctx := context.Background()
	e := setup(t, faultproxy.Config{Seed: 9, Rate: 0, Faults: []faultproxy.Kind{faultproxy.ResetAfterForward}})
	direct := blobs(t, e.direct, blobstore.Options{})
	if err := direct.EnsureContainer(ctx, e.name); err != nil {
		t.Fatal(err)
	}
	bb := noRetries(t, e.cs).ServiceClient().NewContainerClient(e.name).NewBlockBlobClient("blocks.bin")
	parts := [][]byte{randBytes(3000, 10), randBytes(2000, 11)}
	ids := []string{"YmxvY2stMDAwMA==", "YmxvY2stMDAwMQ=="} // deterministic, as blobstore's are
	// tryTwice sends op with every answer lost, then again (the retry)
	// with faults off.
	tryTwice := func(what string, op func() error) {
		t.Helper()
		e.blob.SetRate(1)
		if err := op(); classify(err) != transport {
			t.Fatalf("%s with its answer lost: %v", what, err)
		}
		e.blob.SetRate(0)
		if err := op(); err != nil {
			t.Fatalf("%s retried after it was applied: %v", what, err)
		}
	}
	for i, p := range parts {
		tryTwice("stage block", func() error {
			_, err := bb.StageBlock(ctx, ids[i], streaming.NopCloser(bytes.NewReader(p)), nil)
			return err
		})
	}
	tryTwice("put block list", func() error {
		_, err := bb.CommitBlockList(ctx, ids, nil)
		return err
	})
	if got, want := readAll(t, direct, e.name, "blocks.bin"), bytes.Join(parts, nil); !bytes.Equal(got, want) {
		t.Fatalf("blob holds %d bytes, want the %d committed", len(got), len(want))
	}
	if s := e.blob.Stats(); s.Faults[faultproxy.ResetAfterForward] != 3 || s.Forwarded != 6 {
		t.Errorf("stats %+v: want 3 lost answers of 6 forwarded requests", s)
	}
}
