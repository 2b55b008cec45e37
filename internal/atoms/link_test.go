package atoms

import (
	"strings"
	"testing"
)

func TestLinkProvenBlobsOnly(t *testing.T) {
	e := setup(t)
	ours, oursSum := writeModel(t, e.dir, 11, 2*testBlock+3)
	_, otherSum := writeModel(t, t.TempDir(), 12, testBlock+9)
	_, goneSum := writeModel(t, t.TempDir(), 13, 10)
	_, wrongSum := writeModel(t, t.TempDir(), 14, 10)

	idOurs := e.atom(oursSum, ours)
	idOther := e.atom(otherSum, `D:\Models\blobs\sha256-`+otherSum)
	idGone := e.atom(goneSum, `D:\Models\blobs\sha256-`+goneSum)
	idWrong := e.atom(wrongSum, `D:\Models\blobs\sha256-`+wrongSum)

	if _, err := e.svc.Upload(e.ctx, UploadParams{Files: []string{ours}}); err != nil {
		t.Fatal(err)
	}
	// Uploaded by another tool: right bytes, no metadata.
	e.otherToolUpload("sha256-"+otherSum, content(12, testBlock+9))
	// Another tool, wrong bytes under the name.
	e.otherToolUpload("sha256-"+wrongSum, content(99, 10))

	want := func(res []LinkResult, expect map[int64]string) {
		t.Helper()
		if len(res) != len(expect) {
			t.Fatalf("%d results, want %d: %+v", len(res), len(expect), res)
		}
		for _, r := range res {
			if r.Outcome != expect[r.AtomID] {
				t.Errorf("atom %d: %s (%s), want %s", r.AtomID, r.Outcome, r.Reason, expect[r.AtomID])
			}
		}
	}

	// Dry run: nothing recorded.
	res, err := e.svc.Link(e.ctx, LinkParams{DryRun: true})
	if err == nil {
		t.Fatal("dry run: no error for unlinkable atoms")
	}
	want(res, map[int64]string{idOurs: OutcomeWouldLink, idOther: OutcomeUnproven, idGone: OutcomeMissingBlob, idWrong: OutcomeUnproven})
	if a := e.getAtom(idOurs); a.BlobURI != "" {
		t.Fatalf("dry run linked: %+v", a)
	}

	res, err = e.svc.Link(e.ctx, LinkParams{})
	if err == nil {
		t.Fatal("no error for unlinkable atoms")
	}
	want(res, map[int64]string{idOurs: OutcomeLinked, idOther: OutcomeUnproven, idGone: OutcomeMissingBlob, idWrong: OutcomeUnproven})
	for _, r := range res {
		if r.AtomID == idOther && !strings.Contains(r.Reason, "--rehash") {
			t.Errorf("unproven reason %q does not say how to prove it", r.Reason)
		}
	}
	props, err := e.blobs.Properties(e.ctx, e.container, "sha256-"+oursSum)
	if err != nil {
		t.Fatal(err)
	}
	a := e.getAtom(idOurs)
	if a.BlobURI != e.blobs.URL(e.container, "sha256-"+oursSum) || a.BlobContainer != e.container ||
		a.BlobName != "sha256-"+oursSum || a.BlobSizeBytes != 2*testBlock+3 || a.BlobETag != props.ETag ||
		a.BlobLastModified.IsZero() || a.PayloadLocator != ours {
		t.Fatalf("linked atom %+v (blob ETag %s)", a, props.ETag)
	}
	if a := e.getAtom(idOther); a.BlobURI != "" {
		t.Fatalf("unproven atom linked: %+v", a)
	}

	// Rehash proves the other tool's blob and writes the metadata.
	res, err = e.svc.Link(e.ctx, LinkParams{Rehash: true})
	if err == nil {
		t.Fatal("rehash: no error for unlinkable atoms")
	}
	want(res, map[int64]string{idOurs: OutcomeAlready, idOther: OutcomeLinked, idGone: OutcomeMissingBlob, idWrong: OutcomeUnproven})
	for _, r := range res {
		if r.AtomID == idWrong && !strings.Contains(r.Reason, "sha256 mismatch") {
			t.Errorf("wrong blob reason %q", r.Reason)
		}
	}
	other, err := e.blobs.Properties(e.ctx, e.container, "sha256-"+otherSum)
	if err != nil {
		t.Fatal(err)
	}
	if other.Meta(MetaSha256) != otherSum {
		t.Fatalf("rehash did not record Sha256 metadata: %v", other.Metadata)
	}
	if a := e.getAtom(idOther); a.BlobETag != other.ETag || a.BlobSizeBytes != testBlock+9 {
		t.Fatalf("atom linked under ETag %s, blob has %s: %+v", a.BlobETag, other.ETag, a)
	}
	if a := e.getAtom(idWrong); a.BlobURI != "" {
		t.Fatalf("wrong blob linked: %+v", a)
	}

	// The metadata now proves it: no rehash needed.
	res, _ = e.svc.Link(e.ctx, LinkParams{})
	want(res, map[int64]string{idOurs: OutcomeAlready, idOther: OutcomeAlready, idGone: OutcomeMissingBlob, idWrong: OutcomeUnproven})
}
