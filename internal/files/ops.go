package files

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/location"
)

// existsResponse answers exists.
type existsResponse struct {
	Path        string `json:"path"`
	Exists      bool   `json:"exists"`
	IsDirectory bool   `json:"isDirectory"`
}

// deleteResponse answers delete.
type deleteResponse struct {
	Path    string `json:"path"`
	Deleted bool   `json:"deleted"`
}

// Entry is one entry of a list answer.
type Entry struct {
	Name      string `json:"name"`
	SizeBytes int64  `json:"sizeBytes"`
	// LastModified is UTC with 7 fractional digits (T-SQL's datetime2(7)
	// and datetimeoffset(7) parse it); null for a directory.
	LastModified *string `json:"lastModified"`
	IsDirectory  bool    `json:"isDirectory"`
}

// errStop ends a listing early.
var errStop = errors.New("stop")

// exists answers whether path is a file (a blob, or a migrated atom file
// whose blob is there) or a directory (a root whose container exists, or a
// prefix some blob's name or migrated file's path continues with "/").
// Blob Storage has no empty directories: a directory exists while it holds
// a file. Where a file and files under it both exist, the file wins.
func (s *Service) exists(c echo.Context, r request) error {
	loc, err := location.Map(s.roots, r.path())
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	resp := existsResponse{Path: r.path()}
	if !loc.IsRoot() {
		t, err := s.resolve(ctx, r.path())
		if err != nil {
			return err
		}
		container, name := t.blob()
		ok, err := s.blobs.Exists(ctx, container, name)
		if err != nil {
			return err
		}
		if ok && !t.owned() {
			resp.Exists = true
			return c.JSON(http.StatusOK, resp)
		}
	}
	dir, err := s.isDir(c, loc, r.path())
	if err != nil {
		return err
	}
	resp.Exists, resp.IsDirectory = dir, dir
	return c.JSON(http.StatusOK, resp)
}

// isDir reports whether p (at loc) is a directory: a root whose container
// exists, a prefix of blob names, or a directory of migrated atom files.
func (s *Service) isDir(c echo.Context, loc location.Location, p string) (bool, error) {
	found := false
	err := s.blobs.List(c.Request().Context(), loc.Container, dirPrefix(loc), "/", func(it blobstore.Item) error {
		if loc.IsRoot() && s.index.Owns(loc.Container, strings.TrimSuffix(it.Name, "/")) {
			return nil
		}
		found = true
		return errStop
	})
	switch {
	case errors.Is(err, blobstore.ErrNotFound):
	case errors.Is(err, errStop), err == nil:
		if found || loc.IsRoot() {
			return true, nil
		}
	default:
		return false, err
	}
	if s.index == nil {
		return false, nil
	}
	return s.index.HasFiles(c.Request().Context(), p)
}

func dirPrefix(loc location.Location) string {
	if loc.IsRoot() {
		return ""
	}
	return loc.Name + "/"
}

// delete removes the file; deleted is false when there was none. An
// "ifMatch" ETag makes it conditional (412 when the file changed). A
// migrated atom file is refused (409 atom_file).
func (s *Service) delete(c echo.Context, r request) error {
	t, err := s.resolve(c.Request().Context(), r.path())
	if err != nil {
		return err
	}
	if err := s.changeable(t, r.path(), "delete"); err != nil {
		return err
	}
	loc := t.Location
	ifMatch := ""
	if r.IfMatch != nil {
		ifMatch = *r.IfMatch
		if err := checkETag(ifMatch); err != nil {
			return err
		}
	}
	err = s.blobs.Delete(c.Request().Context(), loc.Container, loc.Name, ifMatch)
	switch {
	case errors.Is(err, blobstore.ErrNotFound):
		return c.JSON(http.StatusOK, deleteResponse{Path: r.path(), Deleted: false})
	case errors.Is(err, blobstore.ErrConflict):
		return errorf(http.StatusPreconditionFailed, CodePrecondition, "the file's ETag is not %s", truncate(ifMatch, 80))
	case err != nil:
		return err
	}
	s.log.Info("files: deleted", "container", loc.Container, "name", loc.Name)
	return c.JSON(http.StatusOK, deleteResponse{Path: r.path(), Deleted: true})
}

// sqlTime is ISO 8601 UTC with 7 fractional digits.
const sqlTime = "2006-01-02T15:04:05.0000000Z"
