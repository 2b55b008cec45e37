package files

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/blobstore"
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

// exists answers whether path is a file (a blob) or a directory (a root
// whose container exists, or a prefix some blob's name continues with
// "/"). Blob Storage has no empty directories: a directory exists while it
// holds a file. Where a blob "a" and blobs "a/…" both exist, the file wins.
func (s *Service) exists(c echo.Context, r request) error {
	loc, err := Map(s.roots, r.path())
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	resp := existsResponse{Path: r.path()}
	if !loc.IsRoot() {
		ok, err := s.blobs.Exists(ctx, loc.Container, loc.Name)
		if err != nil {
			return err
		}
		if ok {
			resp.Exists = true
			return c.JSON(http.StatusOK, resp)
		}
	}
	dir, err := s.hasChildren(c, loc)
	if err != nil {
		return err
	}
	resp.Exists, resp.IsDirectory = dir, dir
	return c.JSON(http.StatusOK, resp)
}

// hasChildren reports whether loc is a directory: for a root, whether its
// container exists; otherwise whether any blob name continues it with "/".
func (s *Service) hasChildren(c echo.Context, loc Location) (bool, error) {
	found := false
	err := s.blobs.List(c.Request().Context(), loc.Container, dirPrefix(loc), "/", func(blobstore.Item) error {
		found = true
		return errStop
	})
	switch {
	case errors.Is(err, blobstore.ErrNotFound):
		return false, nil
	case errors.Is(err, errStop), err == nil:
		return found || loc.IsRoot(), nil
	}
	return false, err
}

func dirPrefix(loc Location) string {
	if loc.IsRoot() {
		return ""
	}
	return loc.Name + "/"
}

// delete removes the file; deleted is false when there was none. An
// "ifMatch" ETag makes it conditional (412 when the file changed).
func (s *Service) delete(c echo.Context, r request) error {
	loc, err := MapFile(s.roots, r.path())
	if err != nil {
		return err
	}
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

// list answers one level of a directory, entries in name order, streamed
// as the listing pages arrive (a directory of a million files is not
// collected). A directory that does not exist lists empty (Blob Storage
// cannot tell it from an empty one); a path that is a file is a 400.
func (s *Service) list(c echo.Context, r request) error {
	loc, err := Map(s.roots, r.path())
	if err != nil {
		return err
	}
	prefix := dirPrefix(loc)
	var (
		bw      *bufio.Writer
		enc     *json.Encoder
		entries int
	)
	// The status is sent with the first entry, so an error on the first
	// page (storage down) is still answered with its own status.
	start := func() {
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		c.Response().WriteHeader(http.StatusOK)
		bw = bufio.NewWriterSize(c.Response(), 32<<10)
		fmt.Fprintf(bw, `{"path":%s,"entries":[`, jsonString(r.path()))
		enc = json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
	}
	err = s.blobs.List(c.Request().Context(), loc.Container, prefix, "/", func(it blobstore.Item) error {
		e := Entry{Name: strings.TrimSuffix(strings.TrimPrefix(it.Name, prefix), "/"), IsDirectory: it.IsPrefix}
		if e.Name == "" {
			return nil // a blob named like the directory itself plus "/"
		}
		if !it.IsPrefix {
			e.SizeBytes = it.Size
			lm := it.LastModified.UTC().Format(sqlTime)
			e.LastModified = &lm
		}
		if bw == nil {
			start()
		} else {
			bw.WriteByte(',')
		}
		entries++
		return enc.Encode(e)
	})
	if err != nil && !(errors.Is(err, blobstore.ErrNotFound) && bw == nil) {
		return err
	}
	if bw == nil {
		if !loc.IsRoot() {
			if ok, err := s.blobs.Exists(c.Request().Context(), loc.Container, loc.Name); err != nil {
				return err
			} else if ok {
				return errorf(http.StatusBadRequest, CodeNotDirectory, "%s is a file, not a directory", truncate(r.path(), 200))
			}
		}
		start()
	}
	bw.WriteString("]}")
	return bw.Flush()
}

// sqlTime is ISO 8601 UTC with 7 fractional digits.
const sqlTime = "2006-01-02T15:04:05.0000000Z"
