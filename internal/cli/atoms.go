package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/hartonomous/offload/internal/app"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/models"
	"github.com/hartonomous/offload/internal/progress"
)

// atomsUploadCmd is `atoms upload`: every atom's file, from the catalog.
func atomsUploadCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	var p models.UploadParams
	p.FromCatalog = true
	fs.StringVar(&p.Modality, "modality", "", "only atoms of this Modality (model, image, audio, …; default: every modality)")
	return uploadFlags(fs, &p, func(p *models.UploadParams, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("%w: atoms upload takes no files (it reads every atom's PayloadLocator); see models upload", errUsage)
		}
		return nil
	})
}

// modelsUploadCmd is `models upload`: model atoms' files, or model files
// given by name.
func modelsUploadCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	p := models.UploadParams{Modality: catalog.ModalityModel}
	fs.StringVar(&p.Source, "source", "", "directory of model files named sha256-<hex>")
	fs.BoolVar(&p.FromCatalog, "from-catalog", false, "upload the files named by model atoms' PayloadLocator (content-named or not)")
	return uploadFlags(fs, &p, func(p *models.UploadParams, args []string) error {
		p.Files = append(p.Files, args...)
		if p.Source == "" && !p.FromCatalog && len(p.Files) == 0 {
			return fmt.Errorf("%w: give --source DIR, --from-catalog or files", errUsage)
		}
		return nil
	})
}

// uploadFlags adds the flags both upload commands share and returns the
// command; check validates the arguments.
func uploadFlags(fs *flag.FlagSet, p *models.UploadParams, check func(*models.UploadParams, []string) error) func(context.Context, *session, []string) error {
	fs.BoolVar(&p.DryRun, "dry-run", false, "list what would be uploaded")
	roots := fs.String("locator-root", "", `map PayloadLocator prefixes to local folders, e.g. 'D:\Models\=/mnt/models' (PREFIX=DIR;…)`)
	bs := fs.Int("block-size-mib", 8, "block size in MiB")
	cc := fs.Int("concurrency", 8, "blocks staged in parallel")
	asJSON := fs.Bool("json", false, "print the results as JSON (no progress bar)")
	return func(ctx context.Context, s *session, args []string) error {
		if err := check(p, args); err != nil {
			return err
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
		_, err = uploadModels(ctx, s, a, *p, *asJSON)
		return err
	}
}

// uploadModels runs an upload (with a progress bar unless asJSON) and
// prints one row per atom (and per file given by name).
func uploadModels(ctx context.Context, s *session, a *app.App, p models.UploadParams, asJSON bool) ([]models.FileResult, error) {
	var bar *progress.Bar
	var done struct {
		files int
		bytes int64
	}
	if !asJSON {
		a.Models.SetProgress(func(pr models.Progress) {
			if bar == nil {
				bar = progress.New(s.Stdout, "upload", int64(pr.Files), pr.Bytes)
			}
			bar.Add(int64(pr.FilesDone-done.files), pr.BytesDone-done.bytes, false)
			done.files, done.bytes = pr.FilesDone, pr.BytesDone
		})
		defer a.Models.SetProgress(nil)
	}
	res, err := a.Models.Upload(ctx, p)
	if bar != nil {
		bar.Done()
	}
	rep := newModelsReport(res, func(r models.FileResult) string { return r.Outcome }, models.FileResult.Failed)
	if asJSON {
		printJSON(s, rep)
		return res, err
	}
	w := tabwriter.NewWriter(s.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "atom\tmodality\tblob\tsize\toutcome\tblocks sent\tblocks reused\tcontentHash\tfiles\treason")
	for _, r := range res {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", atomCell(r.AtomID), dash(r.Modality), blobCell(r.Container, r.BlobName),
			progress.Bytes(r.Size), r.Outcome, r.BlocksStaged, r.BlocksSkipped, dash(r.ContentHash), dash(r.Files), r.Reason)
	}
	w.Flush()
	printCounts(s.Stdout, "upload", len(res), rep.Counts, []string{models.OutcomeUploaded, models.OutcomeResumed,
		models.OutcomeSkipped, models.OutcomeWouldUpload, models.OutcomeMissingFile, models.OutcomeUnproven, models.OutcomeFailed})
	return res, err
}

// modelsReport is the --json answer of the models commands.
type modelsReport[T any] struct {
	Results []T            `json:"results"`
	Counts  map[string]int `json:"counts"`
	Failed  int            `json:"failed"`
}

// newModelsReport counts res by outcome and how many failed.
func newModelsReport[T any](res []T, outcome func(T) string, failed func(T) bool) modelsReport[T] {
	rep := modelsReport[T]{Results: res, Counts: map[string]int{}}
	for _, r := range res {
		rep.Counts[outcome(r)]++
		if failed(r) {
			rep.Failed++
		}
	}
	return rep
}

func atomCell(id int64) string {
	if id == 0 {
		return "-"
	}
	return fmt.Sprint(id)
}

// blobCell is container/name, or "-" before the name is known.
func blobCell(container, name string) string {
	if name == "" {
		return "-"
	}
	return container + "/" + name
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printCounts prints "what: N row(s): 2 linked, 1 missing-blob" in order.
func printCounts(w io.Writer, what string, n int, counts map[string]int, order []string) {
	var parts []string
	for _, o := range order {
		if counts[o] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[o], o))
		}
	}
	fmt.Fprintf(w, "%s: %d row(s): %s\n", what, n, dash(strings.Join(parts, ", ")))
}

func atomsLinkCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	var p models.LinkParams
	fs.StringVar(&p.Modality, "modality", "", "only atoms of this Modality (default: every modality)")
	return linkFlags(fs, &p)
}

func modelsLinkCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	return linkFlags(fs, &models.LinkParams{Modality: catalog.ModalityModel})
}

func linkFlags(fs *flag.FlagSet, p *models.LinkParams) func(context.Context, *session, []string) error {
	fs.BoolVar(&p.Rehash, "rehash", false, "prove blobs uploaded by other tools with a full SHA-256 read")
	fs.BoolVar(&p.DryRun, "dry-run", false, "report, change nothing")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	return func(ctx context.Context, s *session, args []string) error {
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		_, err = linkModels(ctx, s, a, *p, *asJSON)
		return err
	}
}

// linkModels links the atoms and prints one row per atom.
func linkModels(ctx context.Context, s *session, a *app.App, p models.LinkParams, asJSON bool) ([]models.LinkResult, error) {
	res, err := a.Models.Link(ctx, p)
	rep := newModelsReport(res, func(r models.LinkResult) string { return r.Outcome }, models.LinkResult.Failed)
	if asJSON {
		printJSON(s, rep)
		return res, err
	}
	w := tabwriter.NewWriter(s.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "atom\tmodality\tblob\toutcome\tcontentHash\treason")
	for _, r := range res {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", r.AtomID, r.Modality, blobCell(r.Container, r.BlobName), r.Outcome, dash(r.ContentHash), r.Reason)
	}
	w.Flush()
	printCounts(s.Stdout, "link", len(res), rep.Counts, []string{models.OutcomeLinked, models.OutcomeAlready, models.OutcomeWouldLink,
		models.OutcomeMissingFile, models.OutcomeMissingBlob, models.OutcomeUnproven, models.OutcomeFailed})
	return res, err
}

func atomsVerifyCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	var p models.VerifyParams
	fs.StringVar(&p.Modality, "modality", "", "only atoms of this Modality (default: every modality)")
	return verifyFlags(fs, &p)
}

func modelsVerifyCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	return verifyFlags(fs, &models.VerifyParams{Modality: catalog.ModalityModel})
}

func verifyFlags(fs *flag.FlagSet, p *models.VerifyParams) func(context.Context, *session, []string) error {
	fs.BoolVar(&p.Rehash, "rehash", false, "full SHA-256 check against the digest each blob is named by")
	fs.IntVar(&p.Limit, "limit", 0, "at most this many atoms (0: all)")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	return func(ctx context.Context, s *session, args []string) error {
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		res, err := a.Models.Verify(ctx, *p)
		rep := newModelsReport(res, func(r models.VerifyResult) string { return r.Result },
			func(r models.VerifyResult) bool { return r.Result != models.ResultOK })
		if *asJSON {
			printJSON(s, rep)
		} else {
			w := tabwriter.NewWriter(s.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "atom\tmodality\tblob\tresult\treason")
			for _, r := range res {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", r.AtomID, r.Modality, blobCell(r.Container, r.BlobName), r.Result, r.Reason)
			}
			w.Flush()
			printCounts(s.Stdout, "verify", len(res), rep.Counts, []string{models.ResultOK, models.ResultMissing, models.ResultSize,
				models.ResultETag, models.ResultSha256, models.ResultLocator, models.ResultError})
		}
		if err == nil && rep.Failed > 0 {
			err = fmt.Errorf("%d atom(s) failed verification", rep.Failed)
		}
		return err
	}
}
