package demo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"path/filepath"

	"github.com/hartonomous/offload/internal/catalog"
)

// media are the demo's non-model atom files: images and audio, as
// Hartonomous keeps them beside the models (PayloadLocator on a local
// disk), one with a mixed-case name a Windows caller may spell otherwise.
var media = []struct {
	modality, path, sourceType string
	header                     []byte
	size, smallSize            int64
}{
	{"image", "images/cat-0001.png", "upload", []byte("\x89PNG\r\n\x1a\n"), 48<<10 + 17, 4 << 10},
	{"image", "images/Tom.PNG", "upload", []byte("\x89PNG\r\n\x1a\n"), 160 << 10, 6 << 10},
	{"audio", "audio/hello.wav", "recording", []byte("RIFF\x00\x00\x00\x00WAVEfmt "), 700<<10 + 3, 9 << 10},
}

// seedMediaFiles writes the image and audio files under opt.MediaFilesDir
// and an atom for each (ContentHash: the file's digest), and one text atom
// with no file at all (it stays in the database: no PayloadLocator).
func seedMediaFiles(ctx context.Context, cat catalog.Seeder, opt Options, sum *Summary) error {
	for i, m := range media {
		size := m.size
		if opt.Small {
			size = m.smallSize
		}
		r := io.MultiReader(bytes.NewReader(m.header), Payload(opt.Seed, 2000, int64(i), 0, size-int64(len(m.header))))
		path, digest, err := writeFileAt(filepath.Join(opt.MediaFilesDir, filepath.FromSlash(m.path)), r)
		if err != nil {
			return err
		}
		meta := fmt.Sprintf(`{"name":%q}`, filepath.Base(path))
		if _, err := cat.InsertAtom(ctx, catalog.NewAtom{ContentHash: digest, Modality: m.modality, SourceType: m.sourceType,
			PayloadLocator: path, Metadata: meta}); err != nil {
			return fmt.Errorf("demo: %s atom: %w", m.modality, err)
		}
		sum.Atoms++
		sum.MediaAtoms++
		sum.FileBytes += size
	}
	h := sha256.Sum256([]byte("demo text atom"))
	if _, err := cat.InsertAtom(ctx, catalog.NewAtom{ContentHash: h[:], Modality: "text", SourceType: "note",
		Metadata: `{"text":"an atom without a file"}`}); err != nil {
		return fmt.Errorf("demo: text atom: %w", err)
	}
	sum.Atoms++
	return nil
}
