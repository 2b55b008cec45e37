package files

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/blobstore"
)

// smallText is the size up to which a text read keeps the file in memory
// for its two passes (validate, then send) instead of downloading it twice.
const smallText = 1 << 20

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// blobRef names a blob.
type blobRef struct{ Container, Name string }

// missing answers a read of a file that does not exist.
type missing struct {
	Path   string `json:"path"`
	Exists bool   `json:"exists"`
}

// read answers {"path","exists","sizeBytes","etag","contentBase64"} (or
// "text" with "encoding":"utf8"), streaming the blob into the response.
func (s *Service) read(c echo.Context, r request) error {
	text := false
	if r.Encoding != nil {
		switch strings.ToLower(*r.Encoding) {
		case "utf8", "utf-8":
			text = true
		case "base64", "binary", "":
		default:
			return errorf(http.StatusBadRequest, CodeBadEncoding, "encoding %q is not supported (utf8, or none for base64 bytes)", truncate(*r.Encoding, 40))
		}
	}
	ctx := c.Request().Context()
	t, err := s.resolve(ctx, r.path())
	if err != nil {
		return err
	}
	if t.owned() {
		return c.JSON(http.StatusOK, missing{Path: r.path(), Exists: false})
	}
	var loc blobRef
	loc.Container, loc.Name = t.blob()
	body, props, err := s.blobs.Download(ctx, loc.Container, loc.Name, 0, 0)
	if errors.Is(err, blobstore.ErrNotFound) {
		return c.JSON(http.StatusOK, missing{Path: r.path(), Exists: false})
	}
	if err != nil {
		return err
	}
	defer body.Close()
	head := fmt.Sprintf(`{"path":%s,"exists":true,"sizeBytes":%d,"etag":%s,`, jsonString(r.path()), props.Size, jsonString(props.ETag))
	if text {
		return s.readText(c, loc, head, body, props)
	}
	head += `"contentBase64":"`
	const tail = `"}`
	total := int64(len(head)) + int64(base64.StdEncoding.EncodedLen(int(props.Size))) + int64(len(tail))
	if total > s.maxBody {
		return errorf(http.StatusRequestEntityTooLarge, CodeResponseTooLarge,
			"the file is %d bytes: as base64 JSON (%d bytes) it exceeds the %d-byte response limit of sp_invoke_external_rest_endpoint", props.Size, total, s.maxBody)
	}
	w := startJSON(c, total)
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(head)
	enc := base64.NewEncoder(base64.StdEncoding, bw)
	n, err := io.Copy(enc, body)
	if err != nil {
		return fmt.Errorf("stream %s/%s after %d bytes: %w", loc.Container, loc.Name, n, err)
	}
	if n != props.Size {
		return fmt.Errorf("stream %s/%s: got %d bytes, the blob has %d", loc.Container, loc.Name, n, props.Size)
	}
	enc.Close()
	bw.WriteString(tail)
	return bw.Flush()
}

// startJSON sends a 200 with an exact Content-Length: if the stream then
// fails, the response is cut short and the client sees an error rather
// than a complete-looking answer.
func startJSON(c echo.Context, length int64) io.Writer {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	h.Set(echo.HeaderContentLength, strconv.FormatInt(length, 10))
	c.Response().WriteHeader(http.StatusOK)
	return c.Response()
}

// readText answers the file as a JSON string. The status must be decided
// before the first byte is sent, so a first pass checks the content is
// UTF-8 (422 otherwise) and measures the escaped length; the second pass
// sends it, from memory for small files, else from a second download that
// must carry the same ETag (409 changed otherwise). A leading UTF-8 BOM is
// dropped, as File.ReadAllText did.
func (s *Service) readText(c echo.Context, loc blobRef, head string, body io.Reader, props blobstore.Props) error {
	var keep *bytes.Buffer
	src := body
	if props.Size <= smallText {
		keep = bytes.NewBuffer(make([]byte, 0, props.Size))
		src = io.TeeReader(body, keep)
	}
	escaped, err := measureText(src)
	if err != nil {
		return err
	}
	head += `"text":"`
	const tail = `"}`
	total := int64(len(head)) + escaped + int64(len(tail))
	if total > s.maxBody {
		return errorf(http.StatusRequestEntityTooLarge, CodeResponseTooLarge,
			"the file as JSON text is %d bytes, over the %d-byte response limit of sp_invoke_external_rest_endpoint", total, s.maxBody)
	}
	var second io.Reader
	if keep != nil {
		second = keep
	} else {
		b2, p2, err := s.blobs.Download(c.Request().Context(), loc.Container, loc.Name, 0, 0)
		if errors.Is(err, blobstore.ErrNotFound) {
			return errorf(http.StatusConflict, CodeChanged, "the file was deleted while it was read")
		}
		if err != nil {
			return err
		}
		defer b2.Close()
		if p2.ETag != props.ETag {
			return errorf(http.StatusConflict, CodeChanged, "the file changed while it was read: retry")
		}
		second = b2
	}
	w := startJSON(c, total)
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(head)
	n, err := writeEscaped(bw, second)
	if err != nil {
		return fmt.Errorf("stream %s/%s: %w", loc.Container, loc.Name, err)
	}
	if n != escaped {
		return fmt.Errorf("stream %s/%s: %d escaped bytes sent, %d measured", loc.Container, loc.Name, n, escaped)
	}
	bw.WriteString(tail)
	return bw.Flush()
}

// measureText returns the length of r's text as escaped JSON string
// content, or 422 not_utf8.
func measureText(r io.Reader) (int64, error) {
	return escapeText(io.Discard, r)
}

func writeEscaped(w io.Writer, r io.Reader) (int64, error) {
	return escapeText(w, r)
}

// escapeText writes r's UTF-8 text (less a leading BOM) to w as JSON string
// content and returns the bytes written. Invalid UTF-8 is a 422.
func escapeText(w io.Writer, r io.Reader) (int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, utf8BOM) {
		br.Discard(3)
	}
	var (
		n     int64
		off   int64
		out   = make([]byte, 0, 64<<10)
		flush = func() error {
			k, err := w.Write(out)
			n += int64(k)
			out = out[:0]
			return err
		}
	)
	for {
		ru, size, err := br.ReadRune()
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
		if ru == utf8.RuneError && size == 1 {
			return n, errorf(http.StatusUnprocessableEntity, CodeNotUTF8,
				"the file is not valid UTF-8 (byte %d): read it without \"encoding\" to get its bytes", off)
		}
		off += int64(size)
		out = appendEscaped(out, ru)
		if len(out) >= 60<<10 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}

// appendEscaped appends r as JSON string content, escaping what
// encoding/json escapes (without its HTML escaping).
func appendEscaped(out []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	switch r {
	case '"':
		return append(out, '\\', '"')
	case '\\':
		return append(out, '\\', '\\')
	case '\n':
		return append(out, '\\', 'n')
	case '\r':
		return append(out, '\\', 'r')
	case '\t':
		return append(out, '\\', 't')
	case '\u2028', '\u2029':
		return append(out, '\\', 'u', '2', '0', '2', hex[r&0xf])
	}
	if r < 0x20 {
		return append(out, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
	}
	return utf8.AppendRune(out, r)
}
