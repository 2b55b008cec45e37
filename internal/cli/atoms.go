package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/hartonomous/offload/internal/app"
	"github.com/hartonomous/offload/internal/atoms"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/progress"
)

// atomsUploadCmd is `atoms upload`: every atom's file, from the catalog.
func atomsUploadCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	var p atoms.UploadParams
	p.FromCatalog = true
	fs.StringVar(&p.Modality, "modality", "", "only atoms of this Modality (model, image, audio, …; default: every modality)")
	return uploadFlags(fs, &p, func(p *atoms.UploadParams, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("%w: atoms upload takes no files (it reads every atom's PayloadLocator); see models upload", errUsage)
		}
		return nil
	})
}

// modelsUploadCmd is `models upload`: model atoms' files, or model files
// given by name.
func modelsUploadCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	p := atoms.UploadParams{Modality: catalog.ModalityModel}
	fs.StringVar(&p.Source, "source", "", "directory of model files named sha256-<hex>")
	fs.BoolVar(&p.FromCatalog, "from-catalog", false, "upload the files named by model atoms' PayloadLocator (content-named or not)")
	return uploadFlags(fs, &p, func(p *atoms.UploadParams, args []string) error {
		p.Files = append(p.Files, args...)
		if p.Source == "" && !p.FromCatalog && len(p.Files) == 0 {
			return fmt.Errorf("%w: give --source DIR, --from-catalog or files", errUsage)
		}
		return nil
	})
}

// uploadFlags adds the flags both upload commands share and returns the
// command; check validates the arguments.
func uploadFlags(fs *flag.FlagSet, p *atoms.UploadParams, check func(*atoms.UploadParams, []string) error) func(context.Context, *session, []string) error {
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
			lr, err := atoms.ParseLocatorRoots(*roots)
			if err != nil {
				return fmt.Errorf("%w: --locator-root: %v", errUsage, err)
			}
			p.LocatorMap = atoms.MapLocators(lr)
		}
		s.tuning = app.Tuning{BlockSize: int64(*bs) << 20, Concurrency: *cc}
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		_, err = uploadAtoms(ctx, s, a, *p, *asJSON)
		return err
	}
}

// uploadAtoms runs an upload (with a progress bar unless asJSON) and
// prints one row per atom (and per file given by name).
func uploadAtoms(ctx context.Context, s *session, a *app.App, p atoms.UploadParams, asJSON bool) ([]atoms.FileResult, error) {
	var bar *progress.Bar
	var done struct {
		files int
		bytes int64
	}
	if !asJSON {
		a.Atoms.SetProgress(func(pr atoms.Progress) {
			if bar == nil {
				bar = progress.New(s.Stdout, "upload", int64(pr.Files), pr.Bytes)
			}
			bar.Add(int64(pr.FilesDone-done.files), pr.BytesDone-done.bytes, false)
			done.files, done.bytes = pr.FilesDone, pr.BytesDone
		})
		defer a.Atoms.SetProgress(nil)
	}
	res, err := a.Atoms.Upload(ctx, p)
	if bar != nil {
		bar.Done()
	}
	rep := newAtomsReport(res, func(r atoms.FileResult) string { return r.Outcome }, atoms.FileResult.Failed)
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
	printCounts(s.Stdout, "upload", len(res), rep.Counts, []string{atoms.OutcomeUploaded, atoms.OutcomeResumed,
		atoms.OutcomeSkipped, atoms.OutcomeWouldUpload, atoms.OutcomeMissingFile, atoms.OutcomeUnproven, atoms.OutcomeFailed})
	return res, err
}

// atomsReport is the --json answer of the models commands.
type atomsReport[T any] struct {
	Results []T            `json:"results"`
	Counts  map[string]int `json:"counts"`
	Failed  int            `json:"failed"`
}

// newAtomsReport counts res by outcome and how many failed.
func newAtomsReport[T any](res []T, outcome func(T) string, failed func(T) bool) atomsReport[T] {
	rep := atomsReport[T]{Results: res, Counts: map[string]int{}}
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
	var p atoms.LinkParams
	fs.StringVar(&p.Modality, "modality", "", "only atoms of this Modality (default: every modality)")
	return linkFlags(fs, &p)
}

func modelsLinkCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	return linkFlags(fs, &atoms.LinkParams{Modality: catalog.ModalityModel})
}

func linkFlags(fs *flag.FlagSet, p *atoms.LinkParams) func(context.Context, *session, []string) error {
	fs.BoolVar(&p.Rehash, "rehash", false, "prove blobs uploaded by other tools with a full SHA-256 read")
	fs.BoolVar(&p.DryRun, "dry-run", false, "report, change nothing")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	return func(ctx context.Context, s *session, args []string) error {
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		_, err = linkAtoms(ctx, s, a, *p, *asJSON)
		return err
	}
}

// linkAtoms links the atoms and prints one row per atom.
func linkAtoms(ctx context.Context, s *session, a *app.App, p atoms.LinkParams, asJSON bool) ([]atoms.LinkResult, error) {
	res, err := a.Atoms.Link(ctx, p)
	rep := newAtomsReport(res, func(r atoms.LinkResult) string { return r.Outcome }, atoms.LinkResult.Failed)
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
	printCounts(s.Stdout, "link", len(res), rep.Counts, []string{atoms.OutcomeLinked, atoms.OutcomeAlready, atoms.OutcomeWouldLink,
		atoms.OutcomeMissingFile, atoms.OutcomeMissingBlob, atoms.OutcomeUnproven, atoms.OutcomeFailed})
	return res, err
}

func atomsVerifyCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	var p atoms.VerifyParams
	fs.StringVar(&p.Modality, "modality", "", "only atoms of this Modality (default: every modality)")
	return verifyFlags(fs, &p)
}

func modelsVerifyCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	return verifyFlags(fs, &atoms.VerifyParams{Modality: catalog.ModalityModel})
}

func verifyFlags(fs *flag.FlagSet, p *atoms.VerifyParams) func(context.Context, *session, []string) error {
	fs.BoolVar(&p.Rehash, "rehash", false, "full SHA-256 check against the digest each blob is named by")
	fs.IntVar(&p.Limit, "limit", 0, "at most this many atoms (0: all)")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	return func(ctx context.Context, s *session, args []string) error {
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		res, err := a.Atoms.Verify(ctx, *p)
		rep := newAtomsReport(res, func(r atoms.VerifyResult) string { return r.Result },
			func(r atoms.VerifyResult) bool { return r.Result != atoms.ResultOK })
		if *asJSON {
			printJSON(s, rep)
		} else {
			w := tabwriter.NewWriter(s.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "atom\tmodality\tblob\tresult\treason")
			for _, r := range res {
				fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\n", r.AtomID, r.Modality, blobCell(r.Container, r.BlobName), r.Result, r.Reason)
			}
			w.Flush()
			printCounts(s.Stdout, "verify", len(res), rep.Counts, []string{atoms.ResultOK, atoms.ResultMissing, atoms.ResultSize,
				atoms.ResultETag, atoms.ResultSha256, atoms.ResultLocator, atoms.ResultError})
		}
		if err == nil && rep.Failed > 0 {
			err = fmt.Errorf("%d atom(s) failed verification", rep.Failed)
		}
		return err
	}
}
