// Package location is the one rule for where a file lives in Blob Storage,
// used by the Files API (internal/files) and by the atom uploads
// (internal/atoms) alike.
//
// A path a T-SQL caller uses is first confined and mapped by FILES_ROOTS:
//
//	Map(roots, `D:\Models\notes\a.txt`)  → {Container: "models", Name: "notes/a.txt"}
//	Map(roots, `C:\Windows\win.ini`)     → *PathError outside_roots
//
// A migrated atom file is then found by the path it had (its
// PayloadLocator), whatever container its upload chose and however the
// path is spelt, through the Index kept in ATOMS_CONTAINER:
//
//	// the upload, after proving and committing models/sha256-9d50…:
//	ix := NewIndex(blobs, "atoms", "models", "atoms")
//	ix.Record(ctx, Entry{Locator: `D:\Models\blobs\sha256-9d50…`,
//		Container: "models", Blob: "sha256-9d50…", Sha256: "9d50…", Size: n})
//	// → blob atoms/paths/d:/models/blobs/sha256-9d50…
//
//	// the Files API, for POST api/files/read {"path":"d:/MODELS/blobs/SHA256-9D50…"}:
//	e, found, err := ix.Lookup(ctx, path) // found: read e.Container/e.Blob
//
// Key gives the spelling every Windows form of a path shares (either
// separator, case folded as NTFS does); Owns names the blobs the uploads
// keep for themselves (content-named blobs, index entries, receipts),
// which the Files API neither writes, deletes nor lists. The catalog is
// never needed: the index lives beside the blobs. docs/FILES.md describes
// the rule for users.
package location
