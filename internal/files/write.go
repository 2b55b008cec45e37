package files

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/location"
)

// writeResponse is the answer of a write.
type writeResponse struct {
	Path         string `json:"path"`
	BytesWritten int64  `json:"bytesWritten"`
	ETag         string `json:"etag"`
	BlobURI      string `json:"blobUri"`
}

// maxPathField bounds the "path" and "ifMatch" strings of a write.
const maxPathField = 16 << 10

// writeReq is what a write body says besides its content.
type writeReq struct {
	path      *string
	ifMatch   string
	overwrite *bool
	// content is "contentBase64" or "text", once seen.
	content string
}

// write streams the body's content into the blob.
//
// The body is parsed field by field (objParser). When "path" (and any
// "ifMatch"/"overwrite") come before the content, as the shipped
// procedures send them, the content streams from the request straight into
// blobstore.Upload: base64 decoded on the way, the rest of the JSON checked
// in BeforeCommit. Any error on the way (bad base64, bad JSON after the
// content, a body over the limit) fails the upload before its commit, so
// nothing is written. When the content comes first, it is spooled to a
// temporary file, since its destination is not known yet.
func (s *Service) write(c echo.Context) error {
	p := newObjParser(bufio.NewReaderSize(c.Request().Body, 64<<10))
	if err := p.begin(); err != nil {
		return err
	}
	var w writeReq
	var spool *os.File
	defer func() {
		if spool != nil {
			spool.Close()
			os.Remove(spool.Name())
		}
	}()
	for {
		key, ok, err := p.next()
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		if err := w.field(p, key); err != nil {
			return err
		}
		if key != "contentBase64" && key != "text" {
			continue
		}
		r, present, err := p.stringValue(key)
		if err != nil {
			return err
		}
		if !present { // null: as if absent
			w.content = ""
			continue
		}
		if w.path != nil {
			return s.upload(c, &w, r, p)
		}
		if spool, err = s.spoolTo(r); err != nil {
			return err
		}
	}
	if err := p.end(); err != nil {
		return err
	}
	if spool == nil {
		return errorf(http.StatusBadRequest, CodeMissingContent, `write needs "contentBase64" or "text"`)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind spool: %w", err)
	}
	return s.upload(c, &w, bufio.NewReaderSize(spool, 64<<10), nil)
}

// field records one field of a write body (the content's value is left to
// the caller).
func (w *writeReq) field(p *objParser, key string) error {
	switch key {
	case "path":
		if w.path != nil {
			return errorf(http.StatusBadRequest, CodeDuplicateField, `"path" is given twice`)
		}
		v, _, err := p.stringOrNull("path", maxPathField)
		if err != nil {
			return err
		}
		w.path = &v
	case "ifMatch":
		v, _, err := p.stringOrNull("ifMatch", maxPathField)
		if err != nil {
			return err
		}
		if err := checkETag(v); err != nil {
			return err
		}
		w.ifMatch = v
	case "overwrite":
		v, null, err := p.boolOrNull("overwrite")
		if err != nil {
			return err
		}
		if !null {
			w.overwrite = &v
		}
	case "contentBase64", "text":
		if w.content != "" {
			return errorf(http.StatusBadRequest, CodeDuplicateField, `give one of "contentBase64" and "text", once`)
		}
		w.content = key
	default:
		return errorf(http.StatusBadRequest, CodeUnknownField, "unknown field %q (write takes %s)", truncate(key, 64), fieldsOf(OpWrite))
	}
	return nil
}

// spoolTo copies a content string to a temporary file (bounded by the body
// limit, not by memory).
func (s *Service) spoolTo(r io.Reader) (*os.File, error) {
	f, err := os.CreateTemp(s.tempDir, "offload-files-*.spool")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// upload writes content (the raw string value: base64 text or UTF-8 text)
// to the blob. With p set, the JSON after the content is parsed before the
// commit; fields there may not change the write.
func (s *Service) upload(c echo.Context, w *writeReq, content io.Reader, p *objParser) error {
	path := ""
	if w.path != nil {
		path = *w.path
	}
	t, err := s.resolve(c.Request().Context(), path)
	if err != nil {
		return err
	}
	if err := s.changeable(t, path, "write"); err != nil {
		return err
	}
	loc := t.Location
	if !location.CleanName(loc.Name) {
		return fmt.Errorf("files: Map produced an unclean name %q", loc.Name)
	}
	// Wait for an upload slot: this bounds the block buffers in use. A
	// client that gives up while waiting has written nothing.
	select {
	case s.uploads <- struct{}{}:
		defer func() { <-s.uploads }()
	case <-c.Request().Context().Done():
		return fmt.Errorf("wait for an upload slot: %w", context.Cause(c.Request().Context()))
	}
	opt := blobstore.UploadOptions{
		BlockSize:     s.block,
		ContentType:   "application/octet-stream",
		SetContentMD5: true,
		IfMatch:       w.ifMatch,
	}
	if w.overwrite != nil && !*w.overwrite {
		if w.ifMatch != "" {
			return errorf(http.StatusBadRequest, CodeConflictingFields, `"overwrite": false and "ifMatch" contradict each other`)
		}
		opt.IfNoneMatchAny = true
	}
	r := content
	if w.content == "text" {
		opt.ContentType = "text/plain; charset=utf-8"
	} else {
		r = decodeBase64(content)
	}
	if p != nil {
		opt.BeforeCommit = func(blobstore.Summary) error { return finishAfterContent(p) }
	}
	if err := s.ensure(c, loc.Container); err != nil {
		return err
	}
	res, err := s.blobs.Upload(c.Request().Context(), loc.Container, loc.Name, r, opt)
	if err != nil {
		if errors.Is(err, blobstore.ErrConflict) && opt.IfNoneMatchAny {
			return errorf(http.StatusConflict, CodeExists, "the file exists and \"overwrite\" is false")
		}
		if errors.Is(err, blobstore.ErrConflict) {
			return errorf(http.StatusPreconditionFailed, CodePrecondition, "the file's ETag is not %s", truncate(w.ifMatch, 80))
		}
		if errors.Is(err, blobstore.ErrNotFound) && opt.IfMatch != "" {
			return errorf(http.StatusPreconditionFailed, CodePrecondition, "the file does not exist (ifMatch %s)", truncate(w.ifMatch, 80))
		}
		return err
	}
	s.log.Info("files: wrote", "container", loc.Container, "name", loc.Name, "bytes", res.Size, "etag", res.ETag)
	return c.JSON(http.StatusOK, writeResponse{
		Path:         path,
		BytesWritten: res.Size,
		ETag:         res.ETag,
		BlobURI:      s.blobs.URL(loc.Container, loc.Name),
	})
}

// finishAfterContent parses the body after the streamed content: only
// fields that cannot change the write may follow it.
func finishAfterContent(p *objParser) error {
	for {
		key, ok, err := p.next()
		if err != nil {
			return err
		}
		if !ok {
			return p.end()
		}
		switch key {
		case "path", "ifMatch", "overwrite":
			return errorf(http.StatusBadRequest, CodeFieldOrder,
				"%q must come before the content: the content was already being written when it arrived", key)
		case "contentBase64", "text":
			return errorf(http.StatusBadRequest, CodeDuplicateField, `give one of "contentBase64" and "text", once`)
		default:
			return errorf(http.StatusBadRequest, CodeUnknownField, "unknown field %q (write takes %s)", truncate(key, 64), fieldsOf(OpWrite))
		}
	}
}

// checkETag refuses an ETag that could not travel in an If-Match header.
func checkETag(v string) error {
	if strings.IndexFunc(v, location.IsControl) >= 0 {
		return errorf(http.StatusBadRequest, CodeBadJSON, "ifMatch has a control character")
	}
	return nil
}
