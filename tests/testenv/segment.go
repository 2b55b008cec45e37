package testenv

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"testing"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/sqlite"
	"github.com/hartonomous/offload/internal/demo"
)

// AddSegment inserts one segment of size bytes, in a model and layer of
// its own named model, into the embedded catalog at path (its schema
// applied), with demo.Payload(seed, …) as its payload. It returns the
// segment's id and the SHA-256 of the payload.
func AddSegment(t testing.TB, path, model string, seed uint64, size int64) (int64, string) {
	t.Helper()
	ctx := context.Background()
	cat, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	m, err := cat.InsertModel(ctx, catalog.NewModel{Name: model, Type: "llama"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := cat.InsertLayer(ctx, catalog.NewLayer{ModelID: m, LayerIdx: 0, LayerName: "blk.0.attn_q.weight", QuantizationType: "Q8_0"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := cat.InsertSegment(ctx, catalog.NewSegment{LayerID: l, SegmentOrdinal: 0, PointCount: size / 2,
		QuantizationType: "Q8_0", Payload: demo.Payload(seed, m, l, 0, size), Size: size})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, demo.Payload(seed, m, l, 0, size)); err != nil {
		t.Fatal(err)
	}
	return id, hex.EncodeToString(h.Sum(nil))
}
