package location

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hartonomous/offload/internal/azurite/azuritetest"
	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/config"
)

var az azuritetest.Shared

func TestMain(m *testing.M) { az.Main(m) }

var seq atomic.Int64

// setup returns an index in a fresh "atoms" container, with a "models"
// container as the other store.
func setup(t *testing.T) (*Index, *blobstore.Client, string, string) {
	t.Helper()
	blobs, err := blobstore.New(config.Storage{ConnectionString: az.Get(t).ConnectionString}, blobstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := seq.Add(1)
	atoms, models := fmt.Sprintf("atoms-%d", n), fmt.Sprintf("models-%d", n)
	for _, c := range []string{atoms, models} {
		if err := blobs.EnsureContainer(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	return NewIndex(blobs, atoms, models, atoms), blobs, atoms, models
}

func entry(locator, container string, digit byte, size int64) Entry {
	sum := strings.Repeat(string(digit), 64)
	return Entry{Locator: locator, Container: container, Blob: ContentPrefix + sum, Sha256: sum, Size: size}
}

func TestIndexRecordAndLookup(t *testing.T) {
	ix, blobs, atoms, models := setup(t)
	ctx := context.Background()
	e := entry(`D:\Models\Llama4\Model.GGUF`, models, 'a', 42)
	if err := ix.Record(ctx, e); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{`D:\Models\Llama4\Model.GGUF`, `d:/models/llama4/model.gguf`, `D:\MODELS\\llama4/Model.gguf`} {
		got, found, err := ix.Lookup(ctx, p)
		if err != nil || !found {
			t.Fatalf("Lookup(%q): %v %v", p, found, err)
		}
		if got.Container != models || got.Blob != e.Blob || got.Sha256 != e.Sha256 || got.Size != 42 || got.Name != "Model.GGUF" {
			t.Errorf("Lookup(%q) = %+v", p, got)
		}
	}
	if _, found, err := ix.Lookup(ctx, `D:\Models\Llama4\other.gguf`); err != nil || found {
		t.Errorf("Lookup(other) = %v %v", found, err)
	}
	if _, found, err := ix.Lookup(ctx, `models\relative`); err != nil || found {
		t.Errorf("Lookup(relative) = %v %v", found, err)
	}
	// The entry's body is the locator as spelt, for a human.
	body, _, err := blobs.Download(ctx, atoms, "paths/d:/models/llama4/model.gguf", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(body)
	body.Close()
	if string(b) != e.Locator {
		t.Errorf("entry body %q", b)
	}
}

func TestIndexRecordIdempotentChangedAndTaken(t *testing.T) {
	ix, blobs, atoms, models := setup(t)
	ctx := context.Background()
	name := "paths/d:/data/cat.png"
	first := entry(`D:\Data\Cat.png`, atoms, 'a', 1)
	if err := ix.Record(ctx, first); err != nil {
		t.Fatal(err)
	}
	p1, err := blobs.Properties(ctx, atoms, name)
	if err != nil {
		t.Fatal(err)
	}
	// Same content in another spelling or container: left as it is.
	for _, again := range []Entry{first, entry(`d:/data/CAT.PNG`, atoms, 'a', 1), entry(`D:\Data\Cat.png`, models, 'a', 1)} {
		if err := ix.Record(ctx, again); err != nil {
			t.Fatalf("Record(%+v): %v", again, err)
		}
	}
	if p2, _ := blobs.Properties(ctx, atoms, name); p2.ETag != p1.ETag {
		t.Error("an identical Record rewrote the entry")
	}
	// Other content under another spelling: taken, nothing recorded.
	err = ix.Record(ctx, entry(`D:\Data\CAT.png`, atoms, 'b', 2))
	if !errors.Is(err, ErrPathTaken) || !strings.Contains(err.Error(), `D:\\Data\\Cat.png`) {
		t.Fatalf("Record(other content, other spelling) = %v", err)
	}
	if got, _, _ := ix.Lookup(ctx, `D:\Data\Cat.png`); got.Sha256 != first.Sha256 {
		t.Errorf("taken path changed to %+v", got)
	}
	// Other content under the exact same locator: the file changed, the
	// latest upload wins.
	if err := ix.Record(ctx, entry(`D:\Data\Cat.png`, atoms, 'c', 3)); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := ix.Lookup(ctx, `d:\data\cat.png`); got.Sha256 != strings.Repeat("c", 64) || got.Size != 3 {
		t.Errorf("changed file recorded as %+v", got)
	}
}

func TestIndexList(t *testing.T) {
	ix, _, atoms, models := setup(t)
	ctx := context.Background()
	for i, l := range []string{`D:\Models\blobs\sha256-x`, `D:\Models\Llama4\Model.gguf`, `D:\Models\Llama4\sub\t.bin`, `D:\Data\Résumé.wav`} {
		c := models
		if i == 3 {
			c = atoms
		}
		if err := ix.Record(ctx, entry(l, c, 'a'+byte(i), int64(i+10))); err != nil {
			t.Fatal(err)
		}
	}
	list := func(dir string) []string {
		var got []string
		err := ix.List(ctx, dir, func(l Listed) error {
			if l.Dir {
				got = append(got, l.Name+"/")
			} else {
				got = append(got, fmt.Sprintf("%s:%d", l.Name, l.Entry.Size))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for dir, want := range map[string]string{
		`D:\Models`:          "blobs/ llama4/",
		`d:/models/LLAMA4\`:  "Model.gguf:11 sub/",
		`D:\Data`:            "Résumé.wav:13",
		`D:\Nothing`:         "",
		`D:\`:                "", // a drive root has no entries of its own
		`D:\Models\blobs\no`: "",
	} {
		if got := strings.Join(list(dir), " "); got != want {
			t.Errorf("List(%q) = %q, want %q", dir, got, want)
		}
	}
	for dir, want := range map[string]bool{`D:\Models`: true, `d:\models\llama4\SUB`: true, `D:\Mod`: false, `D:\Data\Résumé.wav`: false} {
		if got, err := ix.HasFiles(ctx, dir); err != nil || got != want {
			t.Errorf("HasFiles(%q) = %v %v", dir, got, err)
		}
	}
}

func TestIndexOwns(t *testing.T) {
	ix := NewIndex(nil, "atoms", "models", "atoms")
	hex := strings.Repeat("ab", 32)
	for _, tc := range []struct {
		container, name string
		want            bool
	}{
		{"models", "sha256-" + hex, true},
		{"atoms", "sha256-" + hex, true},
		{"atoms", "paths/d:/x", true},
		{"atoms", "paths", true},
		{"models", "locators/" + hex, true},
		{"repo", "sha256-" + hex, false},                    // not an upload container
		{"models", "sha256-" + strings.ToUpper(hex), false}, // not a name the uploads write
		{"models", "blobs/sha256-" + hex, false},
		{"models", "pathsX", false},
		{"models", "readme.txt", false},
	} {
		if got := ix.Owns(tc.container, tc.name); got != tc.want {
			t.Errorf("Owns(%s, %s) = %v", tc.container, tc.name, got)
		}
	}
	var none *Index
	if none.Owns("models", "sha256-"+hex) {
		t.Error("a nil index owns nothing")
	}
}

func TestIndexEnsureFillsGapsOnly(t *testing.T) {
	ix, blobs, atoms, models := setup(t)
	ctx := context.Background()
	if err := ix.Ensure(ctx, entry(`D:\Data\a.png`, atoms, 'a', 1)); err != nil {
		t.Fatal(err)
	}
	if got, found, err := ix.Lookup(ctx, `d:\data\A.PNG`); err != nil || !found || got.Sha256 != strings.Repeat("a", 64) {
		t.Fatalf("Ensure on an empty path: %+v %v %v", got, found, err)
	}
	p1, _ := blobs.Properties(ctx, atoms, "paths/d:/data/a.png")
	// An entry already there, whatever it says, stays.
	if err := ix.Ensure(ctx, entry(`D:\Data\a.png`, models, 'b', 2)); err != nil {
		t.Fatal(err)
	}
	if p2, _ := blobs.Properties(ctx, atoms, "paths/d:/data/a.png"); p2.ETag != p1.ETag {
		t.Error("Ensure replaced an entry")
	}
	if err := ix.Ensure(ctx, entry(`relative\a.png`, atoms, 'a', 1)); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("Ensure(relative) = %v", err)
	}
}
