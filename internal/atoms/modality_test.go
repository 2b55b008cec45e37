package atoms

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/hartonomous/offload/internal/catalog"
)

// TestEveryModality: image and audio atoms are uploaded to the atoms
// container, model atoms to the models container; each is proven, linked
// to the blob of its own container and verified. A Modality filter keeps
// the "models" commands to model atoms.
func TestEveryModality(t *testing.T) {
	e := setup(t)
	dir := filepath.Join(e.dir, "data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, modelSum := writeModel(t, e.dir, 10, 200<<10)
	imgTmp, imgSum := writeModel(t, e.dir, 11, 30<<10)
	wavTmp, wavSum := writeModel(t, e.dir, 12, 50<<10)
	for from, to := range map[string]string{imgTmp: "Cat.PNG", wavTmp: "hello.wav"} {
		if err := os.Rename(from, filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
	insert := func(sum, modality, locator string) int64 {
		b, _ := hex.DecodeString(sum)
		id, err := e.cat.InsertAtom(e.ctx, catalog.NewAtom{ContentHash: b, Modality: modality, PayloadLocator: locator})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	model := insert(modelSum, "model", filepath.Join(e.dir, "sha256-"+modelSum))
	image := insert(imgSum, "image", filepath.Join(dir, "Cat.PNG"))
	audio := insert(wavSum, "audio", filepath.Join(dir, "hello.wav"))
	want := map[int64]struct{ modality, container, sum string }{
		model: {"model", e.cfg.ModelsContainer, modelSum},
		image: {"image", e.cfg.AtomsContainer, imgSum},
		audio: {"audio", e.cfg.AtomsContainer, wavSum},
	}

	// The models commands see model atoms only.
	res, err := e.svc.Upload(e.ctx, UploadParams{FromCatalog: true, Modality: catalog.ModalityModel, DryRun: true})
	if err != nil || len(res) != 1 || res[0].AtomID != model {
		t.Fatalf("model atoms only: %v %+v", err, res)
	}

	res, err = e.svc.Upload(e.ctx, UploadParams{FromCatalog: true})
	if err != nil || len(res) != 3 {
		t.Fatalf("upload: %v %+v", err, res)
	}
	for _, r := range res {
		w := want[r.AtomID]
		if r.Outcome != OutcomeUploaded || r.Modality != w.modality || r.Container != w.container || r.BlobName != "sha256-"+w.sum {
			t.Errorf("upload atom %d: %+v, want %+v", r.AtomID, r, w)
		}
	}
	links, err := e.svc.Link(e.ctx, LinkParams{})
	if err != nil || len(links) != 3 {
		t.Fatalf("link: %v %+v", err, links)
	}
	for _, r := range links {
		a := e.getAtom(r.AtomID)
		w := want[r.AtomID]
		if r.Outcome != OutcomeLinked || a.BlobContainer != w.container || a.BlobName != "sha256-"+w.sum ||
			a.BlobURI != e.blobs.URL(w.container, a.BlobName) || a.BlobETag == "" || a.BlobLastModified.IsZero() || a.BlobSizeBytes == 0 {
			t.Errorf("link atom %d: %+v, row %+v", r.AtomID, r, a)
		}
	}
	ver, err := e.svc.Verify(e.ctx, VerifyParams{Rehash: true})
	if err != nil || len(ver) != 3 {
		t.Fatalf("verify: %v %+v", err, ver)
	}
	for _, r := range ver {
		if r.Result != ResultOK || r.Modality != want[r.AtomID].modality || r.Container != want[r.AtomID].container {
			t.Errorf("verify atom %d: %+v", r.AtomID, r)
		}
	}
	// Resumable and idempotent: a second run uploads nothing.
	res, err = e.svc.Upload(e.ctx, UploadParams{FromCatalog: true})
	if err != nil || byOutcome(res, func(r FileResult) string { return r.Outcome })[OutcomeSkipped] != 3 {
		t.Fatalf("re-run: %v %+v", err, res)
	}
}
