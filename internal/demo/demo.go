// Package demo fills an embedded catalog with a Hartonomous-shaped data set:
// models, layers and tensor segments with deterministic pseudo-random
// payloads of mixed sizes, and model atoms whose PayloadLocator points at
// generated local files, the ways a real catalog has them: files named
// sha256-<hex of content> (Ollama's layout) and a plain model.gguf; an atom
// whose ContentHash is its file's digest and atoms whose ContentHash is the
// atom's own hash (REFERENCE §1.1: it need not be the file's); two atoms on
// one file; and image and audio atoms (MediaFilesDir), and a text atom
// with no file.
//
// Everything is derived from a seed, so two runs produce the same bytes.
package demo

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/hartonomous/offload/internal/catalog"
)

// Quantizations are real GGML tensor types as Hartonomous records them.
var Quantizations = []string{"Q4_K_M", "Q5_K_S", "Q6_K", "Q8_0", "F16", "IQ4_XS", "Q4_0", "BF16"}

// Options size the data set.
type Options struct {
	// Seed makes the data deterministic (default 1).
	Seed uint64
	// ModelFilesDir receives the model files (blobs/sha256-…, and
	// library/<model>/model.gguf); required for atoms.
	ModelFilesDir string
	// MediaFilesDir receives the image and audio files (images/…,
	// audio/…); their atoms are seeded only when it is set.
	MediaFilesDir string
	// LargeBytes is the size of the one large segment (default 72 MiB: over
	// 64 MiB, as a big GGUF tensor is).
	LargeBytes int64
	// Small shrinks every size (tests): segments 1 KiB–64 KiB, large 1 MiB.
	Small bool
}

// Summary says what Seed wrote.
type Summary struct {
	Models, Layers, Segments, Atoms int
	// MediaAtoms are the image and audio atoms among Atoms.
	MediaAtoms              int
	SegmentBytes, FileBytes int64
	// Skipped: the catalog already held rows (SkipReason says where), so
	// nothing was written.
	Skipped    bool
	SkipReason string
}

type modelSpec struct {
	name, typ string
	layers    int
	segs      int
	quant     int
}

var models = []modelSpec{
	{"llama4-scout-17b-16e-demo", "llama4", 4, 4, 0},
	{"qwen3-coder-30b-a3b-demo", "qwen3moe", 3, 4, 2},
	{"phi-4-mini-demo", "phi3", 2, 3, 4},
}

// Seed writes the demo data set into cat, creating the Hartonomous tables
// where they are missing, unless any of them already holds rows (then it
// changes nothing and reports Skipped).
func Seed(ctx context.Context, cat catalog.Seeder, opt Options) (Summary, error) {
	if opt.Seed == 0 {
		opt.Seed = 1
	}
	if opt.LargeBytes == 0 {
		opt.LargeBytes = 72 << 20
		if opt.Small {
			opt.LargeBytes = 1 << 20
		}
	}
	var sum Summary
	if err := cat.PrepareSeed(ctx); errors.Is(err, catalog.ErrNotEmpty) {
		sum.Skipped, sum.SkipReason = true, err.Error()
		return sum, nil
	} else if err != nil {
		return sum, fmt.Errorf("demo: %w", err)
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x0ff10ad))
	largeDone := false
	for mi, m := range models {
		modelID, err := cat.InsertModel(ctx, catalog.NewModel{Name: m.name, Type: m.typ})
		if err != nil {
			return sum, fmt.Errorf("demo: model %s: %w", m.name, err)
		}
		sum.Models++
		for li := 0; li < m.layers; li++ {
			q := Quantizations[(m.quant+li)%len(Quantizations)]
			layerID, err := cat.InsertLayer(ctx, catalog.NewLayer{ModelID: modelID, LayerIdx: int64(li),
				LayerName: fmt.Sprintf("blk.%d.ffn_down.weight", li), QuantizationType: q})
			if err != nil {
				return sum, fmt.Errorf("demo: layer: %w", err)
			}
			sum.Layers++
			var offset int64
			for si := 0; si < m.segs; si++ {
				size := segmentSize(rng, opt.Small, mi, li, si)
				if !largeDone && mi == 0 && li == 1 && si == 0 {
					size, largeDone = opt.LargeBytes, true
				}
				points := size / 2
				_, err := cat.InsertSegment(ctx, catalog.NewSegment{LayerID: layerID, SegmentOrdinal: int64(si),
					PointOffset: offset, PointCount: points, QuantizationType: q,
					Payload: Payload(opt.Seed, modelID, layerID, int64(si), size), Size: size})
				if err != nil {
					return sum, fmt.Errorf("demo: segment: %w", err)
				}
				offset += points
				sum.Segments++
				sum.SegmentBytes += size
			}
		}
	}
	if opt.ModelFilesDir != "" {
		if err := seedModelFiles(ctx, cat, opt, &sum); err != nil {
			return sum, err
		}
	}
	if opt.MediaFilesDir != "" {
		if err := seedMediaFiles(ctx, cat, opt, &sum); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// seedModelFiles writes the three model files and their four atoms:
//
//	0: blobs/sha256-<hex>, ContentHash = the file's digest;
//	1: blobs/sha256-<hex>, ContentHash = the atom's own hash (differs);
//	2, 3: library/<model>/model.gguf (not content-named), both on that one
//	   file, each with its own ContentHash.
func seedModelFiles(ctx context.Context, cat catalog.Seeder, opt Options, sum *Summary) error {
	sizes := []int64{3 << 20, 9<<20 + 12345, 17 << 20}
	if opt.Small {
		sizes = []int64{64 << 10, 300<<10 + 7, 1 << 20}
	}
	type atom struct {
		file       int
		sourceType string
	}
	var paths []string
	var digests [][]byte
	for i, size := range sizes {
		r := Payload(opt.Seed, 1000, int64(i), 0, size)
		var path string
		var digest []byte
		var err error
		if i < 2 {
			path, digest, err = WriteModelFile(filepath.Join(opt.ModelFilesDir, "blobs"), r)
		} else {
			path, digest, err = writeFileAt(filepath.Join(opt.ModelFilesDir, "library", models[i].name, "model.gguf"), r)
		}
		if err != nil {
			return err
		}
		paths, digests = append(paths, path), append(digests, digest)
		sum.FileBytes += size
	}
	for i, a := range []atom{{0, "ollama-blob"}, {1, "ollama-blob"}, {2, "gguf"}, {2, "gguf-mirror"}} {
		meta := fmt.Sprintf(`{"model":%q,"format":"gguf","source":%q}`, models[a.file].name, a.sourceType)
		hash := digests[a.file]
		if i > 0 {
			// The atom's own content hash, taken over its identity.
			h := sha256.Sum256([]byte(meta))
			hash = h[:]
		}
		_, err := cat.InsertAtom(ctx, catalog.NewAtom{ContentHash: hash, Modality: "model", SourceType: a.sourceType,
			PayloadLocator: paths[a.file], Metadata: meta})
		if err != nil {
			return fmt.Errorf("demo: atom: %w", err)
		}
		sum.Atoms++
	}
	return nil
}

// segmentSize: the odd tiny and empty payload, most 1–8 MiB.
func segmentSize(rng *rand.Rand, small bool, mi, li, si int) int64 {
	switch {
	case mi == 2 && li == 0 && si == 0:
		return 0 // an empty tensor segment exists in real catalogs
	case si == 3:
		return 1 + rng.Int64N(4096) // tiny
	case small:
		return 1024 + rng.Int64N(63<<10)
	default:
		return 1<<20 + rng.Int64N(7<<20)
	}
}

// Payload is the deterministic content of a segment or file.
func Payload(seed uint64, a, b, c, size int64) io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(a))
	binary.LittleEndian.PutUint64(key[16:], uint64(b))
	binary.LittleEndian.PutUint64(key[24:], uint64(c))
	return io.LimitReader(rand.NewChaCha8(key), size)
}

// WriteModelFile streams r into dir/sha256-<hex of content> and returns the
// path and hash. An existing file of that name is kept.
func WriteModelFile(dir string, r io.Reader) (string, []byte, error) {
	tmp, sum, err := writeTemp(dir, r)
	if err != nil {
		return "", nil, err
	}
	defer os.Remove(tmp)
	path := filepath.Join(dir, "sha256-"+hex.EncodeToString(sum))
	if err := os.Rename(tmp, path); err != nil {
		return "", nil, fmt.Errorf("demo: %w", err)
	}
	return path, sum, nil
}

// writeFileAt streams r into path (replacing it atomically: the demo's
// bytes are deterministic, so a re-run writes the same file) and returns
// the path and the content's hash.
func writeFileAt(path string, r io.Reader) (string, []byte, error) {
	tmp, sum, err := writeTemp(filepath.Dir(path), r)
	if err != nil {
		return "", nil, err
	}
	defer os.Remove(tmp)
	if err := os.Rename(tmp, path); err != nil {
		return "", nil, fmt.Errorf("demo: %w", err)
	}
	return path, sum, nil
}

// writeTemp streams r into a new temporary file in dir and returns its
// name and the SHA-256 of what was written.
func writeTemp(dir string, r io.Reader) (string, []byte, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, fmt.Errorf("demo: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".partial-*")
	if err != nil {
		return "", nil, fmt.Errorf("demo: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), r); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return "", nil, fmt.Errorf("demo: write model file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", nil, fmt.Errorf("demo: %w", err)
	}
	return tmp.Name(), h.Sum(nil), nil
}
