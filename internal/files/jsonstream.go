package files

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// syntaxError is malformed JSON in a request body.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return "malformed JSON: " + e.msg }

func syntaxErr(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...)}
}

// objParser reads one top-level JSON object field by field without ever
// holding a value in memory: a string value can be consumed as an io.Reader
// of its unescaped bytes (stringValue), so a 75 MB contentBase64 streams
// from the request body into the upload. encoding/json cannot do that: its
// Decoder holds every token whole.
//
// Only what the files API accepts is parsed: an object of string, boolean
// and null values. Any other value is refused by the caller before it is
// read (unknown fields are refused).
type objParser struct {
	r          *bufio.Reader
	needComma  bool
	closed     bool // the object's '}' was read
	openString bool // a stringValue reader has not reached its closing quote
}

func newObjParser(r *bufio.Reader) *objParser { return &objParser{r: r} }

// eof turns the end of the body into a syntax error: a body cut short must
// never look like the clean end of a value (io.EOF and io.ErrUnexpectedEOF
// both mean "done" to a reader's consumer).
func eof(err error, where string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return syntaxErr("unexpected end of body %s", where)
	}
	return err
}

func (p *objParser) skipWS() (byte, error) {
	for {
		b, err := p.r.ReadByte()
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return b, nil
	}
}

// begin reads the opening '{'.
func (p *objParser) begin() error {
	b, err := p.skipWS()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return syntaxErr("empty body (expected a JSON object)")
		}
		return err
	}
	if b != '{' {
		return syntaxErr("expected a JSON object, found %q", b)
	}
	return nil
}

// next reads the next key and its ':'; ok is false at the object's '}'.
func (p *objParser) next() (key string, ok bool, err error) {
	if p.openString {
		return "", false, errors.New("files: objParser.next with a string value still open")
	}
	b, err := p.skipWS()
	if err != nil {
		return "", false, eof(err, "inside the object")
	}
	if p.needComma {
		if b == '}' {
			p.closed = true
			return "", false, nil
		}
		if b != ',' {
			return "", false, syntaxErr("expected , or } after a value, found %q", b)
		}
		if b, err = p.skipWS(); err != nil {
			return "", false, eof(err, "inside the object")
		}
	} else if b == '}' {
		p.closed = true
		return "", false, nil
	}
	if b != '"' {
		return "", false, syntaxErr("expected a field name, found %q", b)
	}
	key, err = p.readString(256, "field name")
	if err != nil {
		return "", false, err
	}
	if b, err = p.skipWS(); err != nil {
		return "", false, eof(err, "after a field name")
	}
	if b != ':' {
		return "", false, syntaxErr("expected : after %q, found %q", key, b)
	}
	p.needComma = true
	return key, true, nil
}

// end checks that nothing but whitespace follows the object.
func (p *objParser) end() error {
	if !p.closed {
		return errors.New("files: objParser.end before the object closed")
	}
	b, err := p.skipWS()
	if errors.Is(err, io.EOF) {
		return nil
	}
	if err != nil {
		return err
	}
	return syntaxErr("data after the JSON object (%q)", b)
}

// valueKind peeks at the next value: '"' string, 't'/'f' boolean, 'n' null,
// anything else is returned as is for the caller to refuse.
func (p *objParser) valueKind() (byte, error) {
	for {
		bs, err := p.r.Peek(1)
		if err != nil {
			return 0, eof(err, "before a value")
		}
		switch bs[0] {
		case ' ', '\t', '\n', '\r':
			p.r.ReadByte()
			continue
		}
		return bs[0], nil
	}
}

// stringOrNull reads a string value of at most limit bytes, or null
// (isNull). Anything else is a type error naming field.
func (p *objParser) stringOrNull(field string, limit int) (s string, isNull bool, err error) {
	k, err := p.valueKind()
	if err != nil {
		return "", false, err
	}
	switch k {
	case '"':
		p.r.ReadByte()
		s, err = p.readString(limit, field)
		return s, false, err
	case 'n':
		return "", true, p.literal("null")
	}
	return "", false, errorf(400, CodeBadJSON, "%s must be a string", field)
}

// boolOrNull reads true, false or null.
func (p *objParser) boolOrNull(field string) (v, isNull bool, err error) {
	k, err := p.valueKind()
	if err != nil {
		return false, false, err
	}
	switch k {
	case 't':
		return true, false, p.literal("true")
	case 'f':
		return false, false, p.literal("false")
	case 'n':
		return false, true, p.literal("null")
	}
	return false, false, errorf(400, CodeBadJSON, "%s must be true or false", field)
}

func (p *objParser) literal(word string) error {
	for i := 0; i < len(word); i++ {
		b, err := p.r.ReadByte()
		if err != nil {
			return eof(err, "inside a literal")
		}
		if b != word[i] {
			return syntaxErr("invalid literal (expected %s)", word)
		}
	}
	// A literal must end at a delimiter: "nullx" is not null.
	bs, err := p.r.Peek(1)
	if err == nil {
		switch bs[0] {
		case ' ', '\t', '\n', '\r', ',', '}':
		default:
			return syntaxErr("invalid literal (expected %s)", word)
		}
	}
	return nil
}

// readString reads the rest of a string whose opening quote was consumed.
func (p *objParser) readString(limit int, what string) (string, error) {
	sr := &stringReader{p: p}
	p.openString = true
	b, err := io.ReadAll(io.LimitReader(sr, int64(limit)+1))
	if err != nil {
		return "", err
	}
	if len(b) > limit {
		return "", errorf(400, CodeBadJSON, "%s is longer than %d bytes", what, limit)
	}
	return string(b), nil
}

// stringValue returns a reader of the next value, which must be a string
// (or null: ok false). The reader yields the unescaped UTF-8 bytes and
// io.EOF at the closing quote; a body that ends first, a raw control
// character, invalid UTF-8, a bad escape or a lone surrogate are syntax
// errors, never io.EOF.
func (p *objParser) stringValue(field string) (r io.Reader, ok bool, err error) {
	k, err := p.valueKind()
	if err != nil {
		return nil, false, err
	}
	switch k {
	case '"':
		p.r.ReadByte()
		p.openString = true
		return &stringReader{p: p}, true, nil
	case 'n':
		return nil, false, p.literal("null")
	}
	return nil, false, errorf(400, CodeBadJSON, "%s must be a string", field)
}

// stringReader streams one JSON string's content.
type stringReader struct {
	p       *objParser
	pending []byte // decoded bytes of an escape or rune not yet returned
	buf     [4]byte
	done    bool
	err     error
}

func (s *stringReader) Read(out []byte) (int, error) {
	n := 0
	for n < len(out) {
		if len(s.pending) > 0 {
			k := copy(out[n:], s.pending)
			s.pending = s.pending[k:]
			n += k
			continue
		}
		if s.done || s.err != nil {
			break
		}
		r := s.p.r
		if _, err := r.Peek(1); err != nil {
			s.err = eof(err, "inside a string")
			break
		}
		// Copy the run of plain ASCII straight from bufio's buffer.
		win, _ := r.Peek(r.Buffered())
		i := 0
		for i < len(win) && i < len(out)-n {
			c := win[i]
			if c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				break
			}
			i++
		}
		if i > 0 {
			copy(out[n:], win[:i])
			r.Discard(i)
			n += i
			continue
		}
		switch c := win[0]; {
		case c == '"':
			r.Discard(1)
			s.done = true
			s.p.openString = false
		case c == '\\':
			r.Discard(1)
			s.err = s.escape()
		case c < 0x20:
			s.err = syntaxErr("raw control character %#x in a string", c)
		default:
			ru, size, err := r.ReadRune()
			if err != nil {
				s.err = eof(err, "inside a string")
				break
			}
			if ru == utf8.RuneError && size == 1 {
				s.err = syntaxErr("invalid UTF-8 in a string")
				break
			}
			s.pending = utf8.AppendRune(s.buf[:0], ru)
		}
	}
	if n > 0 {
		return n, nil
	}
	if s.err != nil {
		return 0, s.err
	}
	if s.done {
		return 0, io.EOF
	}
	return 0, nil
}

func (s *stringReader) escape() error {
	r := s.p.r
	c, err := r.ReadByte()
	if err != nil {
		return eof(err, "inside an escape")
	}
	var b byte
	switch c {
	case '"', '\\', '/':
		b = c
	case 'b':
		b = '\b'
	case 'f':
		b = '\f'
	case 'n':
		b = '\n'
	case 'r':
		b = '\r'
	case 't':
		b = '\t'
	case 'u':
		u, err := s.hex4()
		if err != nil {
			return err
		}
		ru := rune(u)
		switch {
		case utf16.IsSurrogate(ru) && ru < 0xdc00:
			// A high surrogate must be followed by \u and a low one.
			if bs, err := r.Peek(2); err != nil || bs[0] != '\\' || bs[1] != 'u' {
				return syntaxErr("lone surrogate \\u%04x in a string", u)
			}
			r.Discard(2)
			lo, err := s.hex4()
			if err != nil {
				return err
			}
			ru = utf16.DecodeRune(ru, rune(lo))
			if ru == utf8.RuneError {
				return syntaxErr("invalid surrogate pair \\u%04x\\u%04x", u, lo)
			}
		case utf16.IsSurrogate(ru):
			return syntaxErr("lone surrogate \\u%04x in a string", u)
		}
		s.pending = utf8.AppendRune(s.buf[:0], ru)
		return nil
	default:
		return syntaxErr("invalid escape \\%c", c)
	}
	s.buf[0] = b
	s.pending = s.buf[:1]
	return nil
}

func (s *stringReader) hex4() (uint16, error) {
	var b [4]byte
	for i := range b {
		c, err := s.p.r.ReadByte()
		if err != nil {
			return 0, eof(err, "inside a \\u escape")
		}
		b[i] = c
	}
	// Base 16 takes hex digits only (no sign, prefix or "_").
	u, err := strconv.ParseUint(string(b[:]), 16, 16)
	if err != nil {
		return 0, syntaxErr("invalid \\u escape")
	}
	return uint16(u), nil
}
