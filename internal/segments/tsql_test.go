package segments_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/catalogtest"
	"github.com/hartonomous/offload/internal/catalog/mssql/mssqltest"
	"github.com/hartonomous/offload/internal/segments"
)

// openTSQL is a fresh T-SQL catalog (the test skips without MSSQL_TEST_DSN).
func openTSQL(tb testing.TB) catalogtest.Catalog { return mssqltest.Catalog(tb) }

// claimCounter counts successful claims (the first one and renewals) and
// notes how many had succeeded when the migration recorded its result.
type claimCounter struct {
	catalogtest.Catalog
	mu         sync.Mutex
	claims     int
	atRecorded int
}

func (c *claimCounter) ClaimSegment(ctx context.Context, p catalog.ClaimSegmentParams) error {
	err := c.Catalog.ClaimSegment(ctx, p)
	if err == nil {
		c.mu.Lock()
		c.claims++
		c.mu.Unlock()
	}
	return err
}

func (c *claimCounter) RecordMigrated(ctx context.Context, p catalog.RecordMigratedParams) error {
	c.mu.Lock()
	c.atRecorded = c.claims
	c.mu.Unlock()
	return c.Catalog.RecordMigrated(ctx, p)
}

// A large payload migrates from the T-SQL catalog while its claim is
// renewed: the payload read must not hold a lock that the renewal (an
// UPDATE of the same row from another connection) waits for. Under
// REPEATABLE READ every renewal waited until the upload ended. 256 MiB by
// default (OFFLOAD_TSQL_LARGE_MIB to change), claim TTL 300 ms: a renewal
// every 100 ms.
func TestLargePayloadClaimRenewedOnTSQL(t *testing.T) {
	cat := &claimCounter{Catalog: openTSQL(t)}
	e := setupOn(t, cat, func(c *segments.Config) {
		c.ClaimTTL = 300 * time.Millisecond
		c.BlockSize = 4 << 20
	})
	size := int64(256 << 20)
	if v := os.Getenv("OFFLOAD_TSQL_LARGE_MIB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			t.Fatalf("OFFLOAD_TSQL_LARGE_MIB %q", v)
		}
		size = n << 20
	}
	h := sha256.New()
	id, err := e.cat.InsertSegment(e.ctx, catalog.NewSegment{LayerID: e.layerID, SegmentOrdinal: 0,
		QuantizationType: "Q4_K_M", Payload: io.TeeReader(io.LimitReader(newStream(7), size), h), Size: size})
	if err != nil {
		t.Fatal(err)
	}
	want := hex.EncodeToString(h.Sum(nil))

	res, err := e.svc.Migrate(e.ctx, id)
	if err != nil {
		t.Fatalf("migrate: %v (%+v)", err, res)
	}
	seg := e.segment(id)
	if seg.State != catalog.StateMigrated || seg.Sha256 != want || seg.BlobSizeBytes != size {
		t.Fatalf("segment after migration: state %s sha %s size %d; want migrated %s %d", seg.State, seg.Sha256, seg.BlobSizeBytes, want, size)
	}
	cat.mu.Lock()
	renewals := cat.atRecorded - 1
	cat.mu.Unlock()
	if renewals < 2 {
		t.Fatalf("the claim was renewed %d time(s) during the upload, want at least 2: renewals wait behind the payload read", renewals)
	}
	t.Logf("%d MiB migrated from T-SQL with %d claim renewals during the upload", size>>20, renewals)

	// The blob holds the source's bytes: read it back and hash it.
	bh := sha256.New()
	r, _, err := e.blobs.Download(e.ctx, e.container, segments.BlobName(seg), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := io.Copy(bh, r); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(bh.Sum(nil)); got != want {
		t.Fatalf("blob sha256 %s, source %s", got, want)
	}
}

// stream is an endless deterministic byte stream (xorshift), for payloads
// too large to hold in memory.
type stream struct{ x uint64 }

func newStream(seed uint64) *stream { return &stream{x: seed*0x9E3779B97F4A7C15 + 1} }

func (s *stream) Read(p []byte) (int, error) {
	for i := range p {
		s.x ^= s.x << 13
		s.x ^= s.x >> 7
		s.x ^= s.x << 17
		p[i] = byte(s.x >> 32)
	}
	return len(p), nil
}
