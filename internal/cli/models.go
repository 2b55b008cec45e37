package cli

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/hartonomous/offload/internal/app"
	"github.com/hartonomous/offload/internal/models"
	"github.com/hartonomous/offload/internal/progress"
)

func modelsUploadCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	var p models.UploadParams
	fs.StringVar(&p.Source, "source", "", "directory of model files named sha256-<hex>")
	fs.BoolVar(&p.FromCatalog, "from-catalog", false, "upload the files named by model atoms' PayloadLocator")
	fs.BoolVar(&p.DryRun, "dry-run", false, "list what would be uploaded")
	roots := fs.String("locator-root", "", `map PayloadLocator prefixes to local folders, e.g. 'D:\Models\=/mnt/models' (with --from-catalog; PREFIX=DIR;…)`)
	bs := fs.Int("block-size-mib", 8, "block size in MiB")
	cc := fs.Int("concurrency", 8, "blocks staged in parallel")
	return func(ctx context.Context, s *session, args []string) error {
		p.Files = append(p.Files, args...)
		if p.Source == "" && !p.FromCatalog && len(p.Files) == 0 {
			return fmt.Errorf("%w: give --source DIR, --from-catalog or files", errUsage)
		}
		if *roots != "" {
			lr, err := models.ParseLocatorRoots(*roots)
			if err != nil {
				return fmt.Errorf("%w: --locator-root: %v", errUsage, err)
			}
			p.LocatorMap = models.MapLocators(lr)
		}
		s.tuning = app.Tuning{BlockSize: int64(*bs) << 20, Concurrency: *cc}
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		if err := a.Blobs.EnsureContainer(ctx, a.Config.ModelsContainer); err != nil {
			return err
		}
		return uploadModels(ctx, s, a, p)
	}
}

// uploadModels runs an upload with a progress bar and prints a table.
func uploadModels(ctx context.Context, s *session, a *app.App, p models.UploadParams) error {
	var bar *progress.Bar
	var done struct {
		files int
		bytes int64
	}
	a.Models.SetProgress(func(pr models.Progress) {
		if bar == nil {
			bar = progress.New(s.Stdout, "upload", int64(pr.Files), pr.Bytes)
		}
		bar.Add(int64(pr.FilesDone-done.files), pr.BytesDone-done.bytes, false)
		done.files, done.bytes = pr.FilesDone, pr.BytesDone
	})
	res, err := a.Models.Upload(ctx, p)
	if bar != nil {
		bar.Done()
	}
	w := tabwriter.NewWriter(s.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "file\tsize\toutcome\tblocks sent\tblocks reused\terror")
	for _, r := range res {
		msg := ""
		if r.Err != nil {
			msg = r.Err.Error()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\n", r.BlobName, progress.Bytes(r.Size), r.Outcome, r.BlocksStaged, r.BlocksSkipped, msg)
	}
	w.Flush()
	return err
}

func modelsLinkCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	var p models.LinkParams
	fs.BoolVar(&p.Rehash, "rehash", false, "prove blobs uploaded by other tools with a full SHA-256 read")
	fs.BoolVar(&p.DryRun, "dry-run", false, "report, change nothing")
	return func(ctx context.Context, s *session, args []string) error {
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		res, err := a.Models.Link(ctx, p)
		w := tabwriter.NewWriter(s.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "atom\tblob\toutcome\treason")
		for _, r := range res {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", r.AtomID, r.BlobName, r.Outcome, r.Reason)
		}
		w.Flush()
		return err
	}
}

func modelsVerifyCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	var p models.VerifyParams
	fs.BoolVar(&p.Rehash, "rehash", false, "full SHA-256 check against ContentHash")
	fs.IntVar(&p.Limit, "limit", 0, "at most this many atoms (0: all)")
	return func(ctx context.Context, s *session, args []string) error {
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		res, err := a.Models.Verify(ctx, p)
		w := tabwriter.NewWriter(s.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "atom\tblob\tresult")
		bad := 0
		for _, r := range res {
			if r.Result != "ok" {
				bad++
			}
			fmt.Fprintf(w, "%d\t%s\t%s\n", r.AtomID, r.BlobName, r.Result)
		}
		w.Flush()
		if err == nil && bad > 0 {
			err = fmt.Errorf("%d model atom(s) failed verification", bad)
		}
		return err
	}
}
