package files

import (
	"context"
	"net/http"

	"github.com/hartonomous/offload/internal/location"
)

// target is where a request's file path is served from.
type target struct {
	// Location is the path's own place under its FILES_ROOTS root.
	location.Location
	// atom is the migrated atom file the path names, if any: its content
	// is the atom's blob, wherever the upload put it.
	atom *location.Entry
	// uploads is set when the path's own place is a blob the atom uploads
	// own (location.Index.Owns): not a file of the Files API.
	uploads bool
}

// owned reports whether the path reaches a blob the atom uploads own
// other than as the migrated file it was: such a path is no file to the
// Files API (reads find nothing, writes and deletes are refused).
func (t target) owned() bool { return t.atom == nil && t.uploads }

// blob is the container and name holding the path's content.
func (t target) blob() (container, name string) {
	if t.atom != nil {
		return t.atom.Container, t.atom.Blob
	}
	return t.Container, t.Name
}

// resolve applies the naming rule (package location) to a file path:
// MapFile confines it to the roots and gives its own place; the index then
// says whether it is a migrated atom file, served from the atom's blob.
func (s *Service) resolve(ctx context.Context, p string) (target, error) {
	loc, err := location.MapFile(s.roots, p)
	if err != nil {
		return target{}, err
	}
	t := target{Location: loc, uploads: s.index.Owns(loc.Container, loc.Name)}
	if s.index == nil {
		return t, nil
	}
	e, found, err := s.index.Lookup(ctx, p)
	if err != nil {
		return target{}, err
	}
	if found {
		t.atom = &e
	}
	return t, nil
}

// changeable refuses a write or delete of a migrated atom file (its blob
// is named by its content and other atoms may share it: a write would
// silently become a second copy) and of any blob the atom uploads own.
func (s *Service) changeable(t target, p, op string) error {
	if t.atom != nil {
		return errorf(http.StatusConflict, CodeAtomFile,
			"%s is a migrated atom file, stored as %s/%s (named by its content, other atoms may share it): %s refused",
			truncate(p, 200), t.atom.Container, t.atom.Blob, op)
	}
	if t.owned() {
		return errorf(http.StatusConflict, CodeAtomFile,
			"%s is %s/%s, which the atom uploads own: %s refused", truncate(p, 200), t.Container, t.Name, op)
	}
	return nil
}
