package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type modelsRow struct {
	AtomID      int64  `json:"atomId"`
	Modality    string `json:"modality"`
	Container   string `json:"container"`
	Files       string `json:"files"`
	BlobName    string `json:"blobName"`
	Outcome     string `json:"outcome"`
	Result      string `json:"result"`
	Reason      string `json:"reason"`
	ContentHash string `json:"contentHash"`
}

type modelsReport struct {
	Results []modelsRow    `json:"results"`
	Counts  map[string]int `json:"counts"`
	Failed  int            `json:"failed"`
}

// models runs `offload models ARGS` (--json) and decodes its report.
func (w *world) models(wantCode int, args ...string) modelsReport {
	w.t.Helper()
	return w.report(wantCode, append([]string{"models"}, args...)...)
}

// atoms runs `offload atoms ARGS` (--json), which must succeed.
func (w *world) atoms(args ...string) modelsReport {
	w.t.Helper()
	return w.report(0, append([]string{"atoms"}, args...)...)
}

func (w *world) report(wantCode int, args ...string) modelsReport {
	w.t.Helper()
	out, errs, code := w.run(args...)
	if code != wantCode {
		w.t.Fatalf("offload %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, wantCode, out, errs)
	}
	var r modelsReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		w.t.Fatalf("offload %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
	return r
}

// The demo's model atoms, as a user meets them: one whose ContentHash is
// its file's digest, one whose ContentHash is not, two on a plain
// model.gguf. Upload and link account for every atom; none fails on its
// ContentHash; a missing file makes the commands exit non-zero with the
// atom's reason.
func TestModelsEveryAtom(t *testing.T) {
	w := newWorld(t)
	w.seedSmall()
	up := w.models(0, "upload", "--from-catalog", "--json")
	if len(up.Results) != 4 || up.Counts["uploaded"] != 4 || up.Failed != 0 {
		t.Fatalf("upload: %+v", up)
	}
	link := w.models(0, "link", "--json")
	if len(link.Results) != 4 || link.Counts["linked"] != 4 {
		t.Fatalf("link: %+v", link)
	}
	want := []string{"matches file digest", "differs from file digest", "differs from file digest", "differs from file digest"}
	for i, r := range link.Results {
		if r.ContentHash != want[i] || !strings.HasPrefix(r.BlobName, "sha256-") {
			t.Errorf("link row %+v, want contentHash %q", r, want[i])
		}
	}
	if link.Results[2].BlobName != link.Results[3].BlobName {
		t.Errorf("two atoms on one file, two blobs: %+v", link.Results[2:])
	}
	ver := w.models(0, "verify", "--rehash", "--json")
	if len(ver.Results) != 4 || ver.Counts["ok"] != 4 {
		t.Fatalf("verify: %+v", ver)
	}

	// A second catalog on the same files, one of them gone: that atom is
	// missing-file, the others are skipped, and the exit code says so.
	w2 := newWorld(t)
	w2.seedSmall()
	gone := filepath.Join(w2.dir, "models", "library", "phi-4-mini-demo", "model.gguf")
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	up = w2.models(1, "upload", "--from-catalog", "--json")
	if up.Failed != 2 || up.Counts["missing-file"] != 2 || up.Counts["uploaded"] != 2 {
		t.Fatalf("upload with a missing file: %+v", up)
	}
	for _, r := range up.Results[2:] {
		if !strings.Contains(r.Reason, "model.gguf") {
			t.Errorf("row %+v: reason does not name the file", r)
		}
	}
	link = w2.models(1, "link", "--json")
	if link.Counts["linked"] != 2 || link.Counts["missing-blob"] != 2 || link.Failed != 2 {
		t.Fatalf("link with a missing file: %+v", link)
	}
	out, _, code := w2.run("models", "link")
	if code != 1 || !strings.Contains(out, "missing-blob") || !strings.Contains(out, "link: 4 row(s): 2 already-linked, 2 missing-blob") {
		t.Fatalf("link table (exit %d):\n%s", code, out)
	}
}

// TestAtomsEveryModality: the demo's image and audio atoms go to the atoms
// container, its model atoms to the models container; `models …` still
// sees the model atoms only; upload, link, verify and status account for
// every modality.
func TestAtomsEveryModality(t *testing.T) {
	w := newWorld(t)
	w.seedSmall()
	if up := w.models(0, "upload", "--from-catalog", "--json"); len(up.Results) != 4 || up.Counts["uploaded"] != 4 {
		t.Fatalf("models upload: %+v", up)
	}
	up := w.atoms("upload", "--json")
	if len(up.Results) != 7 || up.Counts["uploaded"] != 3 || up.Counts["skipped"] != 4 || up.Failed != 0 {
		t.Fatalf("atoms upload: %+v", up)
	}
	for _, r := range up.Results {
		want := w.env["ATOMS_CONTAINER"]
		if r.Modality == "model" {
			want = w.env["MODELS_CONTAINER"]
		}
		if r.Container != want || !strings.HasPrefix(r.BlobName, "sha256-") {
			t.Errorf("atom %d (%s) in %s/%s, want container %s", r.AtomID, r.Modality, r.Container, r.BlobName, want)
		}
		// The demo's files are under no FILES_ROOTS root of this world.
		if !strings.Contains(r.Files, "until a FILES_ROOTS root covers it") {
			t.Errorf("atom %d: files %q", r.AtomID, r.Files)
		}
	}
	if link := w.atoms("link", "--json"); len(link.Results) != 7 || link.Counts["linked"] != 7 {
		t.Fatalf("atoms link: %+v", link)
	}
	if link := w.models(0, "link", "--json"); len(link.Results) != 4 || link.Counts["already-linked"] != 4 {
		t.Fatalf("models link after atoms link: %+v", link)
	}
	if ver := w.atoms("verify", "--rehash", "--json"); len(ver.Results) != 7 || ver.Counts["ok"] != 7 {
		t.Fatalf("atoms verify: %+v", ver)
	}
	if ver := w.atoms("verify", "--modality", "audio", "--json"); len(ver.Results) != 1 || ver.Results[0].Modality != "audio" {
		t.Fatalf("atoms verify --modality audio: %+v", ver)
	}

	out := w.mustRun("segments", "status", "--json")
	var st struct {
		Atoms struct {
			ByModality map[string]struct{ Atoms, Linked, Verified, Failed, Bytes int64 } `json:"byModality"`
			Total      struct{ Atoms, Linked, Verified, Failed int64 }                   `json:"total"`
		} `json:"atoms"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	for m, n := range map[string]int64{"model": 4, "image": 2, "audio": 1} {
		c := st.Atoms.ByModality[m]
		if c.Atoms != n || c.Linked != n || c.Verified != n || c.Failed != 0 || c.Bytes == 0 {
			t.Errorf("status %s: %+v, want %d linked and verified", m, c, n)
		}
	}
	if _, ok := st.Atoms.ByModality["text"]; ok || st.Atoms.Total.Linked != 7 {
		t.Errorf("status atoms: %+v", st.Atoms)
	}
	table := w.mustRun("segments", "status")
	if !strings.Contains(table, "atoms") || !strings.Contains(table, "audio") {
		t.Errorf("status table has no atoms section:\n%s", table)
	}
}
