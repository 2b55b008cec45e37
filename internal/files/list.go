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
	"github.com/hartonomous/offload/internal/location"
)

// listing streams a list answer: the status and the head go with the first
// entry, so an error on the first page (storage down) is still answered
// with its own status.
type listing struct {
	c       echo.Context
	path    string
	bw      *bufio.Writer
	enc     *json.Encoder
	entries int
}

func (l *listing) add(e Entry) error {
	if l.bw == nil {
		l.start()
	} else {
		l.bw.WriteByte(',')
	}
	l.entries++
	return l.enc.Encode(e)
}

func (l *listing) start() {
	h := l.c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	l.c.Response().WriteHeader(http.StatusOK)
	l.bw = bufio.NewWriterSize(l.c.Response(), 32<<10)
	fmt.Fprintf(l.bw, `{"path":%s,"entries":[`, jsonString(l.path))
	l.enc = json.NewEncoder(l.bw)
	l.enc.SetEscapeHTML(false)
}

func (l *listing) finish() error {
	if l.bw == nil {
		l.start()
	}
	l.bw.WriteString("]}")
	return l.bw.Flush()
}

// list answers one level of a directory, streamed as the listing pages
// arrive (a directory of a million files is not collected): first the
// migrated atom files and their directories (by the paths they had, in
// the order of their folded names), then the blobs under the path's root
// (in name order), leaving out what the atom uploads own. A directory that
// does not exist lists empty (Blob Storage cannot tell it from an empty
// one); a path that is a file is a 400.
func (s *Service) list(c echo.Context, r request) error {
	loc, err := location.Map(s.roots, r.path())
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	l := &listing{c: c, path: r.path()}
	if s.index != nil {
		err := s.index.List(ctx, r.path(), func(it location.Listed) error {
			e := Entry{Name: it.Name, IsDirectory: it.Dir}
			if !it.Dir {
				e.SizeBytes = it.Entry.Size
				lm := it.Entry.LastModified.UTC().Format(sqlTime)
				e.LastModified = &lm
			}
			return l.add(e)
		})
		if err != nil {
			return err
		}
	}
	prefix := dirPrefix(loc)
	err = s.blobs.List(ctx, loc.Container, prefix, "/", func(it blobstore.Item) error {
		e := Entry{Name: strings.TrimSuffix(strings.TrimPrefix(it.Name, prefix), "/"), IsDirectory: it.IsPrefix}
		if e.Name == "" || s.index.Owns(loc.Container, strings.TrimSuffix(it.Name, "/")) {
			return nil // a blob named like the directory itself plus "/"; the uploads' own
		}
		if !it.IsPrefix {
			e.SizeBytes = it.Size
			lm := it.LastModified.UTC().Format(sqlTime)
			e.LastModified = &lm
		}
		return l.add(e)
	})
	if err != nil && !(errors.Is(err, blobstore.ErrNotFound) && l.bw == nil) {
		return err
	}
	if l.entries == 0 && !loc.IsRoot() {
		if err := s.notDirectory(c, r.path()); err != nil {
			return err
		}
	}
	return l.finish()
}

// notDirectory refuses to list a path that is a file (400 not_a_directory).
func (s *Service) notDirectory(c echo.Context, p string) error {
	t, err := s.resolve(c.Request().Context(), p)
	if err != nil {
		return err
	}
	if t.owned() {
		return nil
	}
	container, name := t.blob()
	if ok, err := s.blobs.Exists(c.Request().Context(), container, name); err != nil {
		return err
	} else if ok {
		return errorf(http.StatusBadRequest, CodeNotDirectory, "%s is a file, not a directory", truncate(p, 200))
	}
	return nil
}
