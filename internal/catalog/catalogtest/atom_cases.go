package catalogtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
)

func testAtoms(t *testing.T, e *env) {
	var ids []int64
	for i := range 4 {
		modality := "model"
		if i == 2 {
			modality = "text"
		}
		h := sha256.Sum256([]byte{byte(i)})
		id, err := e.cat.InsertAtom(e.ctx, catalog.NewAtom{ContentHash: h[:], Modality: modality, SourceType: "ollama-blob",
			PayloadLocator: `D:\Models\blobs\sha256-` + hex.EncodeToString(h[:]), Metadata: `{"n":1}`})
		wantOK(t, "insert atom", err)
		if modality == "model" {
			ids = append(ids, id)
		}
	}
	list := func(f catalog.AtomFilter) []catalog.Atom {
		t.Helper()
		f.Modality = catalog.ModalityModel
		a, err := e.cat.ListAtoms(e.ctx, f)
		wantOK(t, "list atoms", err)
		return a
	}
	idsOf := func(as []catalog.Atom) []int64 {
		var out []int64
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	all := list(catalog.AtomFilter{Limit: 10})
	if got := idsOf(all); !equal(got, ids) {
		t.Fatalf("model atoms %v, want %v", got, ids)
	}
	h := sha256.Sum256([]byte{0})
	if a := all[0]; !bytes.Equal(a.ContentHash, h[:]) || a.Modality != "model" || a.SourceType != "ollama-blob" ||
		a.PayloadLocator != `D:\Models\blobs\sha256-`+hex.EncodeToString(h[:]) || a.BlobURI != "" || !a.VerifiedAt.IsZero() {
		t.Fatalf("atom %+v", a)
	}
	page := list(catalog.AtomFilter{Limit: 2})
	page2 := list(catalog.AtomFilter{Limit: 2, AfterID: page[1].ID})
	if got := append(idsOf(page), idsOf(page2)...); !equal(got, ids) {
		t.Fatalf("paged atoms %v, want %v", got, ids)
	}

	mod := Base.Add(-time.Hour)
	wantOK(t, "link", e.cat.LinkAtom(e.ctx, catalog.LinkAtomParams{ID: ids[0], ExpectLocator: all[0].PayloadLocator, BlobURI: "http://127.0.0.1/models/blobs/x",
		BlobContainer: "models", BlobName: "blobs/x", BlobSizeBytes: 123, BlobETag: "\"e1\"", BlobLastModified: mod}))
	a := list(catalog.AtomFilter{Limit: 1})[0]
	if a.BlobURI != "http://127.0.0.1/models/blobs/x" || a.BlobContainer != "models" || a.BlobName != "blobs/x" ||
		a.BlobSizeBytes != 123 || a.BlobETag != "\"e1\"" || !a.BlobLastModified.Equal(mod) || a.PayloadLocator == "" {
		t.Fatalf("linked atom %+v", a)
	}
	if got := idsOf(list(catalog.AtomFilter{Limit: 10, LinkedOnly: true})); !equal(got, ids[:1]) {
		t.Fatalf("LinkedOnly %v", got)
	}
	if got := idsOf(list(catalog.AtomFilter{Limit: 10, UnlinkedOnly: true})); !equal(got, ids[1:]) {
		t.Fatalf("UnlinkedOnly %v", got)
	}
	if _, err := e.cat.ListAtoms(e.ctx, catalog.AtomFilter{Limit: 10, LinkedOnly: true, UnlinkedOnly: true}); err == nil {
		t.Fatal("LinkedOnly and UnlinkedOnly together accepted")
	}
	if _, err := e.cat.ListAtoms(e.ctx, catalog.AtomFilter{}); err == nil {
		t.Fatal("Limit 0 accepted")
	}

	wantOK(t, "verified", e.cat.RecordAtomVerified(e.ctx, catalog.RecordAtomVerifiedParams{ID: ids[1], Result: "ok", Now: Base}))
	got := list(catalog.AtomFilter{Limit: 10})
	if !got[1].VerifiedAt.Equal(Base) || got[1].VerifyResult != "ok" {
		t.Fatalf("verified atom %+v", got[1])
	}
	if ids2 := idsOf(list(catalog.AtomFilter{Limit: 10, VerifiedBefore: Base})); !equal(ids2, []int64{ids[0], ids[2]}) {
		t.Fatalf("VerifiedBefore Base: %v", ids2)
	}
	if ids2 := idsOf(list(catalog.AtomFilter{Limit: 10, VerifiedBefore: Base.Add(time.Second)})); !equal(ids2, ids) {
		t.Fatalf("VerifiedBefore Base+1s: %v", ids2)
	}
	wantErr(t, "link unknown atom", e.cat.LinkAtom(e.ctx, catalog.LinkAtomParams{ID: 999_999, BlobURI: "x"}), catalog.ErrNotFound)
	wantErr(t, "verify unknown atom", e.cat.RecordAtomVerified(e.ctx, catalog.RecordAtomVerifiedParams{ID: 999_999, Result: "ok", Now: Base}), catalog.ErrNotFound)
}

// testAtomsLocator: a model atom's blob follows its PayloadLocator, whatever
// its ContentHash; two atoms on one file share one blob; a link proved for
// a locator the row no longer holds is refused and writes nothing.
func testAtomsLocator(t *testing.T, e *env) {
	const shared = `D:\Models\llama4\model.gguf`
	blob := "sha256-" + strings.Repeat("ab", 32)
	var ids []int64
	for i, loc := range []string{shared, shared, ""} {
		// ContentHash is the atom's own hash, unrelated to the file's.
		h := sha256.Sum256(fmt.Appendf(nil, "atom-%d", i))
		id, err := e.cat.InsertAtom(e.ctx, catalog.NewAtom{ContentHash: h[:], Modality: "model", SourceType: "gguf",
			PayloadLocator: loc})
		wantOK(t, "insert atom", err)
		ids = append(ids, id)
	}
	link := func(id int64, loc string) error {
		return e.cat.LinkAtom(e.ctx, catalog.LinkAtomParams{ID: id, ExpectLocator: loc,
			BlobURI: "http://127.0.0.1/models/" + blob, BlobContainer: "models", BlobName: blob,
			BlobSizeBytes: 42, BlobETag: "\"e2\"", BlobLastModified: Base})
	}
	wantOK(t, "link first", link(ids[0], shared))
	wantOK(t, "link second to the same blob", link(ids[1], shared))
	// A NULL locator reads as "" (linked by hand, say).
	wantOK(t, "link NULL locator", link(ids[2], ""))
	atoms, err := e.cat.ListAtoms(e.ctx, catalog.AtomFilter{Modality: catalog.ModalityModel, Limit: 10, LinkedOnly: true})
	wantOK(t, "list", err)
	if len(atoms) != 3 {
		t.Fatalf("linked atoms %+v, want 3", atoms)
	}
	for i, a := range atoms {
		if a.BlobName != blob || a.BlobSizeBytes != 42 || a.ID != ids[i] {
			t.Fatalf("atom %+v: want linked to %s", a, blob)
		}
	}
	if atoms[0].PayloadLocator != shared || atoms[2].PayloadLocator != "" {
		t.Fatalf("locators changed: %q %q", atoms[0].PayloadLocator, atoms[2].PayloadLocator)
	}

	// Stale: the row's locator is not the one the blob was proved for.
	h := sha256.Sum256([]byte("atom-stale"))
	stale, err := e.cat.InsertAtom(e.ctx, catalog.NewAtom{ContentHash: h[:], Modality: "model", PayloadLocator: `D:\Models\blobs\sha256-` + strings.Repeat("cd", 32)})
	wantOK(t, "insert atom", err)
	wantErr(t, "link with a stale locator", link(stale, shared), catalog.ErrConflict)
	a, err := e.cat.ListAtoms(e.ctx, catalog.AtomFilter{Modality: catalog.ModalityModel, AfterID: stale - 1, Limit: 1})
	wantOK(t, "list", err)
	if a[0].BlobURI != "" || a[0].BlobName != "" {
		t.Fatalf("refused link wrote: %+v", a[0])
	}
	wantErr(t, "link unknown atom", link(999_999, ""), catalog.ErrNotFound)
}

// testAtomsModalities: every atom with a file is listed, whatever its
// Modality (a Modality filter keeps one); an atom with neither locator nor
// blob is no file atom unless it is a model atom (listed to be reported).
// AtomStatus counts them by modality.
func testAtomsModalities(t *testing.T, e *env) {
	ids := map[string]int64{}
	for i, a := range []struct{ name, modality, locator string }{
		{"model", "model", `D:\Models\blobs\sha256-` + strings.Repeat("01", 32)},
		{"image", "image", `D:\Data\cats\tom.png`},
		{"audio", "audio", `\\fileserver\audio\a.wav`},
		{"text", "text", ""},
		{"model-no-file", "model", ""},
		{"image-2", "image", `D:\Data\cats\felix.png`},
	} {
		h := sha256.Sum256(fmt.Appendf(nil, "modality-%d", i))
		id, err := e.cat.InsertAtom(e.ctx, catalog.NewAtom{ContentHash: h[:], Modality: a.modality, PayloadLocator: a.locator})
		wantOK(t, "insert atom", err)
		ids[a.name] = id
	}
	list := func(f catalog.AtomFilter) []int64 {
		t.Helper()
		f.Limit = 100
		atoms, err := e.cat.ListAtoms(e.ctx, f)
		wantOK(t, "list atoms", err)
		var out []int64
		for _, a := range atoms {
			out = append(out, a.ID)
		}
		return out
	}
	if got, want := list(catalog.AtomFilter{}), []int64{ids["model"], ids["image"], ids["audio"], ids["model-no-file"], ids["image-2"]}; !equal(got, want) {
		t.Fatalf("every modality: %v, want %v", got, want)
	}
	if got, want := list(catalog.AtomFilter{Modality: "image"}), []int64{ids["image"], ids["image-2"]}; !equal(got, want) {
		t.Fatalf("images: %v, want %v", got, want)
	}
	if got, want := list(catalog.AtomFilter{Modality: catalog.ModalityModel}), []int64{ids["model"], ids["model-no-file"]}; !equal(got, want) {
		t.Fatalf("models: %v, want %v", got, want)
	}
	if got := list(catalog.AtomFilter{Modality: "text"}); len(got) != 0 {
		t.Fatalf("text atoms without a file listed: %v", got)
	}

	link := func(id int64, loc string, size int64) {
		wantOK(t, "link", e.cat.LinkAtom(e.ctx, catalog.LinkAtomParams{ID: id, ExpectLocator: loc, BlobURI: "http://127.0.0.1/atoms/x",
			BlobContainer: "atoms", BlobName: "x", BlobSizeBytes: size, BlobETag: `"e"`, BlobLastModified: Base}))
	}
	link(ids["image"], `D:\Data\cats\tom.png`, 1000)
	link(ids["image-2"], `D:\Data\cats\felix.png`, 24)
	link(ids["audio"], `\\fileserver\audio\a.wav`, 5)
	wantOK(t, "verify", e.cat.RecordAtomVerified(e.ctx, catalog.RecordAtomVerifiedParams{ID: ids["image"], Result: "ok", Now: Base}))
	wantOK(t, "verify", e.cat.RecordAtomVerified(e.ctx, catalog.RecordAtomVerifiedParams{ID: ids["audio"], Result: "missing", Now: Base}))
	rows, err := e.cat.AtomStatus(e.ctx)
	wantOK(t, "atom status", err)
	want := []catalog.AtomStatusRow{
		{Modality: "audio", Atoms: 1, Linked: 1, Failed: 1, Bytes: 5},
		{Modality: "image", Atoms: 2, Linked: 2, Verified: 1, Bytes: 1024},
		{Modality: "model", Atoms: 2},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("AtomStatus = %+v, want %+v", rows, want)
	}
}
