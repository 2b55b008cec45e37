package atoms

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/blobstore"
)

func TestMapLocators(t *testing.T) {
	roots, err := ParseLocatorRoots(`D:\Models\=/mnt/models; /srv/share=/data/share`)
	if err != nil {
		t.Fatal(err)
	}
	m := MapLocators(roots)
	for in, want := range map[string]string{
		`D:\Models\blobs\sha256-ab`: filepath.Join("/mnt/models", "blobs", "sha256-ab"),
		`d:/models/blobs/sha256-ab`: filepath.Join("/mnt/models", "blobs", "sha256-ab"),
		`/srv/share/x`:              filepath.Join("/data/share", "x"),
	} {
		if got, err := m(in); err != nil || got != want {
			t.Errorf("map %q = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`E:\Models\x`, `D:\Models\..\secret`, `D:\Models\`, `D:\ModelsX\y`} {
		if got, err := m(bad); err == nil {
			t.Errorf("map %q = %q, want refused", bad, got)
		}
	}
	if _, err := ParseLocatorRoots("nodir="); err == nil {
		t.Error("ParseLocatorRoots accepted an empty dir")
	}
}

func TestBlockSizeFitsMaxBlocks(t *testing.T) {
	s := New(Config{BlockSize: 8 << 20})
	if got := s.blockSize(1 << 30); got != 8<<20 {
		t.Fatalf("1 GiB: block %d", got)
	}
	huge := int64(1) << 42 // 4 TiB
	bs := s.blockSize(huge)
	if bs%(1<<20) != 0 || (huge+bs-1)/bs > blobstore.MaxBlocks || bs > blobstore.MaxBlockSize {
		t.Fatalf("4 TiB: block %d gives %d blocks", bs, (huge+bs-1)/bs)
	}
}

func TestDefaultLocatorRefusesForeignPaths(t *testing.T) {
	if filepath.Separator == '\\' {
		t.Skip("Windows paths are local here")
	}
	if _, err := localPath(`D:\Models\blobs\sha256-ab`); err == nil || !strings.Contains(err.Error(), "locator root") {
		t.Fatalf("Windows locator on %c: %v", filepath.Separator, err)
	}
	if got, err := localPath("/srv/models/blobs/sha256-ab"); err != nil || got != "/srv/models/blobs/sha256-ab" {
		t.Fatalf("local locator: %q %v", got, err)
	}
	if got := locatorBase(`D:\Models\blobs\sha256-ab`); got != "sha256-ab" {
		t.Fatalf("locatorBase: %q", got)
	}
	hex := strings.Repeat("0123456789ABCDEF", 4)
	for loc, want := range map[string]bool{
		`D:\Models\blobs\sha256-` + hex: true, `/srv/blobs/sha256-` + hex: true, `D:\Models/mixed\sha256-` + hex: true,
		`D:\Models\llama4\model.gguf`: false, `D:\Models\sha256-` + hex + `\model.gguf`: false, "": false,
	} {
		if h, ok := contentName(loc); ok != want || ok && h != strings.ToLower(hex) {
			t.Errorf("contentName(%q) = %q, %v; want content-named %v", loc, h, ok, want)
		}
	}
}
