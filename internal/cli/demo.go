package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/demo"
	"github.com/hartonomous/offload/internal/progress"
)

func demoSeedCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	dir := fs.String("files-dir", ".offload/models", "where the demo model files are written")
	small := fs.Bool("small", false, "a tiny data set (tests)")
	dry := fs.Bool("dry-run", false, "say what would be seeded, write nothing")
	return func(ctx context.Context, s *session, args []string) error {
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		if a.Catalog.Dialect() != "sqlite" {
			return fmt.Errorf("demo seed writes only to the embedded catalog (SQL_CONNECTION_STRING=sqlite:PATH), never to %s", a.Catalog.Dialect())
		}
		if *dry {
			fmt.Fprintln(s.Stdout, "would seed 3 models with layers, ~34 segments (one over 64 MiB), 3 model files and 4 model atoms (one ContentHash equal to its file's digest, a plain model.gguf locator shared by two atoms)")
			return nil
		}
		sum, err := seedDemo(ctx, a.Catalog, *dir, *small)
		if err != nil {
			return err
		}
		printSeed(s, sum)
		return nil
	}
}

func seedDemo(ctx context.Context, cat catalog.Catalog, dir string, small bool) (demo.Summary, error) {
	if _, err := cat.Apply(ctx, catalog.ApplyParams{}); err != nil {
		return demo.Summary{}, err
	}
	return demo.Seed(ctx, cat, demo.Options{ModelFilesDir: dir, Small: small})
}

func printSeed(s *session, sum demo.Summary) {
	if sum.Skipped {
		fmt.Fprintln(s.Stdout, "demo catalog already holds segments: left as it is")
		return
	}
	fmt.Fprintf(s.Stdout, "seeded %d models, %d layers, %d segments (%s), %d model atoms (files: %s)\n",
		sum.Models, sum.Layers, sum.Segments, progress.Bytes(sum.SegmentBytes), sum.Atoms, progress.Bytes(sum.FileBytes))
}
