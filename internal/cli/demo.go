package cli

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/demo"
	"github.com/hartonomous/offload/internal/progress"
)

func demoSeedCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	dir := fs.String("files-dir", ".offload/models", "where the demo model files are written")
	media := fs.String("media-dir", "", `where the demo image and audio files are written (default: "media" beside --files-dir)`)
	small := fs.Bool("small", false, "a tiny data set (tests)")
	dry := fs.Bool("dry-run", false, "say what would be seeded, write nothing")
	return func(ctx context.Context, s *session, args []string) error {
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		if *dry {
			fmt.Fprintln(s.Stdout, "would seed 3 models with layers, ~34 segments (one over 64 MiB), 3 model files and 4 model atoms (one ContentHash equal to its file's digest, a plain model.gguf locator shared by two atoms), 2 image and 1 audio atoms with their files, 1 text atom without a file")
			return nil
		}
		if *media == "" {
			*media = filepath.Join(filepath.Dir(filepath.Clean(*dir)), "media")
		}
		sum, err := seedDemo(ctx, a.Catalog, demo.Options{ModelFilesDir: *dir, MediaFilesDir: *media, Small: *small})
		if err != nil {
			return err
		}
		if sum.Skipped {
			return fmt.Errorf("demo seed refused: %s (the demo writes only into empty tables)", sum.SkipReason)
		}
		printSeed(s, sum)
		return nil
	}
}

// seedDemo writes the demo data set (creating the Hartonomous tables on an
// empty database) and then applies Offload's schema.
func seedDemo(ctx context.Context, cat catalog.Catalog, opt demo.Options) (demo.Summary, error) {
	seeder, err := catalog.SeederOf(cat)
	if err != nil {
		return demo.Summary{}, err
	}
	sum, err := demo.Seed(ctx, seeder, opt)
	if err != nil {
		return sum, err
	}
	if _, err := cat.Apply(ctx, catalog.ApplyParams{}); err != nil {
		return sum, err
	}
	return sum, nil
}

func printSeed(s *session, sum demo.Summary) {
	if sum.Skipped {
		fmt.Fprintf(s.Stdout, "not seeded: %s\n", sum.SkipReason)
		return
	}
	fmt.Fprintf(s.Stdout, "seeded %d models, %d layers, %d segments (%s), %d atoms, %d of them images and audio (files: %s)\n",
		sum.Models, sum.Layers, sum.Segments, progress.Bytes(sum.SegmentBytes), sum.Atoms, sum.MediaAtoms, progress.Bytes(sum.FileBytes))
}
