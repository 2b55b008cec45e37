// Package files is the Files function (REFERENCE §4): file I/O for T-SQL
// over HTTP, on Blob Storage, replacing Hartonomous' SQL CLR UNSAFE
// functions dbo.clr_ReadFileBytes, clr_WriteFileBytes, clr_FileExists, ….
//
// Azure SQL calls it through sp_invoke_external_rest_endpoint (JSON in and
// out, 100 MB each way) with the stored procedures this package renders
// (ProcsSQL). File paths are mapped onto containers by FILES_ROOTS, and
// migrated atom files found by their old paths, by package location;
// content travels as base64 and is streamed both ways, never held whole.
package files

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/location"
	"github.com/hartonomous/offload/internal/server"
)

// Operations, the {op} of POST /api/files/{op}.
const (
	OpRead   = "read"
	OpWrite  = "write"
	OpExists = "exists"
	OpDelete = "delete"
	OpList   = "list"
)

// DefaultMaxBodyBytes is sp_invoke_external_rest_endpoint's 100 MB, less a
// margin for the JSON around the content and the wrapper SQL adds. It caps
// request bodies and read responses alike.
const DefaultMaxBodyBytes = 100*1000*1000 - 64<<10

// DefaultMaxUploads is Config.MaxUploads' default: 8 × 5 × 4 MiB = 160 MiB
// of upload blocks at most, and with 4 staging goroutines each, more
// writes at once would only share the same bandwidth.
const DefaultMaxUploads = 8

// smallBodyBytes caps the body of the operations that carry no content.
const smallBodyBytes = 64 << 10

// Config configures a Service. Zero values take the defaults.
type Config struct {
	// Blobs is the storage account. Required.
	Blobs *blobstore.Client
	// Roots map paths to containers (FILES_ROOTS). Required.
	Roots []config.Root
	// Index finds migrated atom files by the path they had (their
	// PayloadLocator): such a path is read from the atom's blob, and
	// writes and deletes of it are refused. nil: no atom files.
	Index *location.Index
	// MaxBodyBytes caps a request body and a read response
	// (DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// BlockSize is the upload block size (blobstore.DefaultBlockSize).
	BlockSize int64
	// MaxUploads bounds the writes that hold upload block buffers at once
	// (DefaultMaxUploads); more wait for a slot. It is what bounds the
	// Files API's memory whatever the number of clients: at most
	// MaxUploads × (blobstore.DefaultConcurrency+1) × BlockSize of blocks.
	// Reads and the other operations stream through small fixed buffers
	// and are not limited.
	MaxUploads int
	// TempDir receives the spool file of a write whose content comes
	// before its path in the JSON (os.TempDir()).
	TempDir string
	// Logger receives one line per write and delete, and failures.
	Logger *slog.Logger
}

// Service serves the file operations. Build it with New.
type Service struct {
	blobs    *blobstore.Client
	roots    []config.Root
	index    *location.Index
	maxBody  int64
	block    int64
	uploads  chan struct{} // a token per write holding block buffers
	tempDir  string
	log      *slog.Logger
	ensureMu sync.Mutex
	ensured  map[string]bool
}

// New returns a Service for cfg.
func New(cfg Config) *Service {
	s := &Service{
		blobs:   cfg.Blobs,
		roots:   cfg.Roots,
		index:   cfg.Index,
		maxBody: cfg.MaxBodyBytes,
		block:   cfg.BlockSize,
		tempDir: cfg.TempDir,
		log:     cfg.Logger,
		ensured: map[string]bool{},
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.block <= 0 {
		s.block = blobstore.DefaultBlockSize
	}
	if cfg.MaxUploads <= 0 {
		cfg.MaxUploads = DefaultMaxUploads
	}
	s.uploads = make(chan struct{}, cfg.MaxUploads)
	if s.tempDir == "" {
		s.tempDir = os.TempDir()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Handler serves POST /api/files/:op.
//
// Checks run before anything is read from storage, in this order: method
// (405), op (404 unknown_op), Content-Type application/json with an
// optional utf-8 charset (415), Content-Length over the limit (413). The
// body is then bounded by http.MaxBytesReader, so a chunked body over the
// limit fails the read, and with it the upload, before any commit.
func (s *Service) Handler() echo.HandlerFunc {
	return func(c echo.Context) error {
		if ok, err := server.RequirePOST(c); !ok {
			return err
		}
		req := c.Request()
		op := c.Param("op")
		switch op {
		case OpRead, OpWrite, OpExists, OpDelete, OpList:
		default:
			return server.Error(c, http.StatusNotFound, CodeUnknownOp,
				fmt.Sprintf("unknown operation %q (read, write, exists, delete, list)", truncate(op, 64)))
		}
		if err := checkJSON(req.Header.Get("Content-Type")); err != nil {
			return s.respond(c, op, err)
		}
		limit := s.maxBody
		if op != OpWrite {
			limit = min(limit, smallBodyBytes)
		}
		if req.ContentLength > limit {
			return server.Error(c, http.StatusRequestEntityTooLarge, CodeTooLarge,
				fmt.Sprintf("request body is %d bytes, over the limit of %d", req.ContentLength, limit))
		}
		req.Body = http.MaxBytesReader(c.Response(), req.Body, limit)

		var err error
		switch op {
		case OpWrite:
			err = s.write(c)
		default:
			var r request
			if r, err = decodeRequest(req.Body, op); err == nil {
				switch op {
				case OpRead:
					err = s.read(c, r)
				case OpExists:
					err = s.exists(c, r)
				case OpDelete:
					err = s.delete(c, r)
				case OpList:
					err = s.list(c, r)
				}
			}
		}
		if err == nil {
			return nil
		}
		if c.Response().Committed {
			// Too late for a status: the response is cut short (its
			// Content-Length is not reached), which the client sees as a
			// failed call, never as a complete answer.
			return fmt.Errorf("files: %s: %w", op, err)
		}
		return s.respond(c, op, err)
	}
}

// checkJSON accepts application/json, with no charset or utf-8.
func checkJSON(ct string) error {
	if ct == "" {
		return errorf(http.StatusUnsupportedMediaType, CodeMediaType, "Content-Type is missing: send application/json")
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, CodeMediaType, "Content-Type %q is not application/json", truncate(ct, 100))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return errorf(http.StatusUnsupportedMediaType, CodeMediaType, "charset %q is not utf-8", truncate(cs, 40))
	}
	return nil
}

// request is the body of read, exists, delete and list.
type request struct {
	Path     *string `json:"path"`
	Encoding *string `json:"encoding"`
	IfMatch  *string `json:"ifMatch"`
}

// decodeRequest decodes a small request body. Unknown fields are refused
// (a misspelt field must not be silently ignored), and so are the known
// fields op does not take.
func decodeRequest(body io.Reader, op string) (request, error) {
	var r request
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return r, err
		}
		if errors.Is(err, io.EOF) {
			return r, errorf(http.StatusBadRequest, CodeBadJSON, "empty body: expected a JSON object with \"path\"")
		}
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return r, errorf(http.StatusBadRequest, CodeUnknownField, "%s (%s takes %s)", strings.TrimPrefix(err.Error(), "json: "), op, fieldsOf(op))
		}
		return r, errorf(http.StatusBadRequest, CodeBadJSON, "malformed JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return r, err
		}
		return r, errorf(http.StatusBadRequest, CodeBadJSON, "malformed JSON: data after the object")
	}
	if r.Encoding != nil && op != OpRead {
		return r, errorf(http.StatusBadRequest, CodeUnknownField, "%s does not take \"encoding\" (it takes %s)", op, fieldsOf(op))
	}
	if r.IfMatch != nil && op != OpDelete {
		return r, errorf(http.StatusBadRequest, CodeUnknownField, "%s does not take \"ifMatch\" (it takes %s)", op, fieldsOf(op))
	}
	return r, nil
}

func fieldsOf(op string) string {
	switch op {
	case OpRead:
		return `"path" and "encoding"`
	case OpDelete:
		return `"path" and "ifMatch"`
	case OpWrite:
		return `"path", "contentBase64" or "text", "ifMatch" and "overwrite"`
	}
	return `"path"`
}

func (r request) path() string {
	if r.Path == nil {
		return ""
	}
	return *r.Path
}

// ensure creates a root's container on first use. It runs only once a
// write has passed every check that can be made before the body is read.
func (s *Service) ensure(c echo.Context, container string) error {
	s.ensureMu.Lock()
	defer s.ensureMu.Unlock()
	if s.ensured[container] {
		return nil
	}
	if err := s.blobs.EnsureContainer(c.Request().Context(), container); err != nil {
		return err
	}
	s.ensured[container] = true
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// jsonString is s as a JSON string literal.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
