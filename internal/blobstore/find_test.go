package blobstore

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"testing"
)

func TestFind(t *testing.T) {
	reqs := &Requests{}
	c, cn := setup(t, Options{Requests: reqs})
	ctx := context.Background()
	data := randBytes(40*kib, 11)
	if _, err := c.Upload(ctx, cn, "done-longer", bytes.NewReader(data), UploadOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upload(ctx, cn, "done", bytes.NewReader(data), UploadOptions{Metadata: map[string]string{"Sha256": "x"}}); err != nil {
		t.Fatal(err)
	}
	crash := errors.New("killed")
	if _, err := c.Upload(ctx, cn, "staged", bytes.NewReader(data), UploadOptions{BlockSize: 16 * kib, Resume: true,
		AfterStage: func() error { return crash }}); !errors.Is(err, crash) {
		t.Fatal(err)
	}

	find := func(name string) (Item, bool) {
		t.Helper()
		reqs.Reset()
		it, found, err := c.Find(ctx, cn, name)
		if err != nil {
			t.Fatal(err)
		}
		if got := reqs.Counts(); !maps.Equal(got, map[string]int64{"List": 1}) {
			t.Fatalf("Find(%s) sent %v, want one List", name, got)
		}
		return it, found
	}
	if it, found := find("done"); !found || it.Name != "done" || it.Size != int64(len(data)) || it.ETag == "" || it.Meta("sha256") != "x" {
		t.Fatalf("committed blob: %+v found=%v", it, found)
	}
	if it, found := find("staged"); !found || it.Meta("Sha256") != "" {
		t.Fatalf("blob with staged blocks only: %+v found=%v, want found without metadata", it, found)
	}
	if _, found := find("don"); found {
		t.Fatal("a prefix of other names found as a blob")
	}
	if _, found := find("nothing"); found {
		t.Fatal("nothing stored, yet found")
	}
	if _, _, err := c.Find(ctx, "no-such-container", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing container: %v, want ErrNotFound", err)
	}
}
