package files

import (
	"encoding/base64"
	"io"
)

// decodeBase64 returns a reader of the bytes r's standard base64 encodes.
//
// It is stricter than base64.NewDecoder on its own, which accepts two
// padded quanta glued together ("QQ==QQ==") when a read splits them, and
// reports a truncated last quantum as io.ErrUnexpectedEOF, which a
// consumer reading with io.ReadFull (blobstore.Upload does) takes for the
// clean end of the stream. Here any malformation is a 400 bad_base64 error
// and only the clean end is io.EOF. Line breaks (\r, \n) are allowed, as
// MIME and some T-SQL idioms insert them.
func decodeBase64(r io.Reader) io.Reader {
	return &b64Checked{dec: base64.NewDecoder(base64.StdEncoding, &b64Filter{r: r})}
}

type b64Checked struct{ dec io.Reader }

func (c *b64Checked) Read(p []byte) (int, error) {
	n, err := c.dec.Read(p)
	if err == io.ErrUnexpectedEOF {
		err = errorf(400, CodeBadBase64, "contentBase64 is truncated (its length is not a multiple of 4)")
	}
	return n, err
}

// b64Filter checks the alphabet and that padding only ends the stream.
type b64Filter struct {
	r    io.Reader
	pads int
	off  int64
}

func (f *b64Filter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	for i, c := range p[:n] {
		switch {
		case c == '=':
			f.pads++
			if f.pads > 2 {
				return i, errorf(400, CodeBadBase64, "contentBase64 has too much padding (byte %d)", f.off+int64(i))
			}
		case c == '\r' || c == '\n':
		case f.pads > 0:
			return i, errorf(400, CodeBadBase64, "contentBase64 continues after its padding (byte %d)", f.off+int64(i))
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '+', c == '/':
		default:
			return i, errorf(400, CodeBadBase64, "contentBase64 has %q, not a base64 character (byte %d)", c, f.off+int64(i))
		}
	}
	f.off += int64(n)
	return n, err
}
