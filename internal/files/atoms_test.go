package files

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/location"
)

// atomHarness is a harness whose Files service knows the atom uploads'
// index: MODELS_CONTAINER is the D:\Models\ root's container (as with the
// default settings) and ATOMS_CONTAINER another one, holding the index.
type atomHarness struct {
	*harness
	index *location.Index
	atoms string
}

func setupAtoms(t *testing.T) *atomHarness {
	t.Helper()
	a := &atomHarness{}
	a.harness = setup(t, func(c *Config) {
		a.atoms = "atoms-" + strings.TrimPrefix(c.Roots[0].Container, "models-")
		a.index = location.NewIndex(c.Blobs, a.atoms, c.Roots[0].Container, a.atoms)
		c.Index = a.index
	})
	if err := a.blobs.EnsureContainer(context.Background(), a.atoms); err != nil {
		t.Fatal(err)
	}
	return a
}

// migrate does what an atom upload does: the content under its digest in
// container, and the index entry for its locator.
func (a *atomHarness) migrate(locator, container string, data []byte) location.Entry {
	a.t.Helper()
	sum := sha256.Sum256(data)
	e := location.Entry{Locator: locator, Container: container, Blob: location.ContentName(sum[:]), Size: int64(len(data))}
	e.Sha256 = strings.TrimPrefix(e.Blob, location.ContentPrefix)
	a.put(container, e.Blob, data)
	if err := a.index.Record(context.Background(), e); err != nil {
		a.t.Fatal(err)
	}
	return e
}

// TestMigratedFilesByTheirOldPaths: after an upload, the paths T-SQL used
// reach the atoms' blobs, in any Windows spelling, whichever container the
// upload chose, content-named or not; and nothing can overwrite or delete
// them through Files.
func TestMigratedFilesByTheirOldPaths(t *testing.T) {
	a := setupAtoms(t)
	q := newTSQL(a.harness)
	model := []byte("GGUF model bytes")
	image := bytes.Repeat([]byte{0x89, 'P', 'N', 'G'}, 100)
	msum := sha256.Sum256(model)
	mhex := fmt.Sprintf("%x", msum)
	named := a.migrate(`D:\Models\blobs\sha256-`+mhex, a.models, model) // content-named, models container
	a.migrate(`D:\Models\Images\Cat.PNG`, a.atoms, image)               // plain name, atoms container
	a.put(a.models, "notes.txt", []byte("written through Files"))
	a.put(a.models, "locators/0123", []byte(`D:\Models\llama4\model.gguf`)) // an upload receipt

	for path, want := range map[string][]byte{
		`D:\Models\blobs\sha256-` + mhex:                  model,
		`d:/models/BLOBS/SHA256-` + strings.ToUpper(mhex): model,
		`D:\Models\Images\Cat.PNG`:                        image,
		`d:\MODELS\images/cat.png`:                        image,
		`D:\Models\notes.txt`:                             []byte("written through Files"),
	} {
		got, err := q.readFileBytes(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("usp_ReadFileBytes(%q) = %d bytes, %v", path, len(got), err)
		}
		if ok, err := q.exists(path, false); err != nil || !ok {
			t.Errorf("usp_FileExists(%q) = %v, %v", path, ok, err)
		}
	}
	// The uploads' own blobs are no files of their own: only their old
	// paths reach them.
	for _, path := range []string{`D:\Models\` + named.Blob, `D:\Models\locators\0123`} {
		if got, err := q.readFileBytes(path); err != nil || got != nil {
			t.Errorf("usp_ReadFileBytes(%q) = %q, %v; want NULL", path, got, err)
		}
		if ok, err := q.exists(path, false); err != nil || ok {
			t.Errorf("usp_FileExists(%q) = %v, %v", path, ok, err)
		}
	}
	for _, dir := range []string{`D:\Models\images`, `D:\MODELS\Blobs\`} {
		if ok, err := q.exists(dir, true); err != nil || !ok {
			t.Errorf("usp_DirectoryExists(%q) = %v, %v", dir, ok, err)
		}
	}

	before := a.snapshot()
	for _, path := range []string{`D:\Models\blobs\sha256-` + mhex, `d:\models\images\CAT.png`, `D:\Models\` + named.Blob, `D:\Models\locators\0123`} {
		var se *sqlError
		if _, err := q.writeFileBytes(path, []byte("second copy")); !asSQLError(err, &se) || !strings.Contains(se.msg, "HTTP 409 "+CodeAtomFile) {
			t.Errorf("usp_WriteFileBytes(%q) = %v, want HTTP 409 %s", path, err, CodeAtomFile)
		}
		if _, err := q.deleteFile(path); !asSQLError(err, &se) || !strings.Contains(se.msg, "HTTP 409 "+CodeAtomFile) {
			t.Errorf("usp_DeleteFile(%q) = %v, want HTTP 409 %s", path, err, CodeAtomFile)
		}
	}
	if after := a.snapshot(); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Errorf("refused writes changed storage:\nbefore %q\nafter  %q", before, after)
	}

	// list: migrated files under their old names (then the files written
	// through Files), never the uploads' own blobs.
	wantListing(t, q, map[string]string{
		`D:\Models`:        "blobs/ images/ notes.txt:21",
		`D:\Models\blobs`:  "sha256-" + mhex + ":16",
		`d:/models/IMAGES`: "Cat.PNG:400",
	})
	var se *sqlError
	if _, err := q.listDirectory(`D:\Models\images\Cat.PNG`); !asSQLError(err, &se) || !strings.Contains(se.msg, CodeNotDirectory) {
		t.Errorf("listing a migrated file = %v", err)
	}
}

// wantListing checks usp_ListDirectory of each directory: entries as
// "name/" (a directory) or "name:size", in order.
func wantListing(t *testing.T, q *tsql, want map[string]string) {
	t.Helper()
	for dir, w := range want {
		rows, err := q.listDirectory(dir)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range rows {
			if r.IsDirectory {
				got = append(got, r.Name+"/")
			} else {
				got = append(got, fmt.Sprintf("%s:%d", r.Name, r.SizeBytes))
			}
		}
		if strings.Join(got, " ") != w {
			t.Errorf("usp_ListDirectory(%q) = %q, want %q", dir, got, w)
		}
	}
}

// TestMigratedFileOutsideRoots: the index does not widen FILES_ROOTS: an
// atom recorded under a path no root covers stays unreachable.
func TestMigratedFileOutsideRoots(t *testing.T) {
	a := setupAtoms(t)
	a.migrate(`E:\Audio\a.wav`, a.atoms, []byte("RIFF"))
	status, body := a.call("read", forJSON("path", `E:\Audio\a.wav`))
	if status != 400 || !strings.Contains(string(body), location.CodeOutside) {
		t.Fatalf("read outside the roots: %d %s", status, body)
	}
}
