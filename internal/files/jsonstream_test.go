package files

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// stringValueOf runs the write body parser over in, read one byte at a time
// through bufio's smallest buffer so every value straddles refills.
func stringValueOf(t *testing.T, in string) (string, error) {
	t.Helper()
	p := newObjParser(bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(in)), 16))
	if err := p.begin(); err != nil {
		return "", err
	}
	key, ok, err := p.next()
	if err != nil || !ok || key != "v" {
		return "", errors.Join(err, errors.New("no key v"))
	}
	r, ok, err := p.stringValue("v")
	if err != nil || !ok {
		return "", errors.Join(err, errors.New("not a string"))
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	if _, ok, err := p.next(); err != nil || ok {
		return "", errors.Join(err, errors.New("more fields"))
	}
	return string(b), p.end()
}

func TestStringReaderMatchesEncodingJSON(t *testing.T) {
	for _, v := range []string{
		``, `plain ascii`, `\"\\\/\b\f\n\r\t`, `\u00e9\u6a21\ud83d\ude00`, `é模😀`,
		strings.Repeat(`ab\u00e9😀\n`, 50), `\u0000`, `\u2028`,
	} {
		in := `{"v":"` + v + `"}`
		got, err := stringValueOf(t, in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		var want struct{ V string }
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatal(err)
		}
		if got != want.V {
			t.Errorf("%s: got %q, encoding/json %q", in, got, want.V)
		}
	}
}

func TestStringReaderRefuses(t *testing.T) {
	for _, in := range []string{
		`{"v":"abc`,            // body ends inside the string
		`{"v":"a\`,             // ...inside an escape
		`{"v":"\u12`,           // ...inside \u
		`{"v":"\q"}`,           // bad escape
		`{"v":"\ud800"}`,       // lone high surrogate
		`{"v":"\udc00"}`,       // lone low surrogate
		`{"v":"\ud800\u0041"}`, // high surrogate with a non-surrogate
		"{\"v\":\"a\tb\"}",     // raw control character
		"{\"v\":\"\xc3(\"}",    // invalid UTF-8
		`{"v":"x"} trailing`,   // data after the object
		`{"v":"x",}`,           // trailing comma
		`{"v":"x" "w":1}`,      // missing comma
	} {
		_, err := stringValueOf(t, in)
		var se *syntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: %v, want a syntax error", in, err)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: a cut body must not read as the end of a value: %v", in, err)
		}
	}
}

func TestBase64Strict(t *testing.T) {
	ok := map[string]string{"": "", "QQ==": "A", "QUI=": "AB", "QUJD": "ABC", "QUJD\r\nREVG": "ABCDEF"}
	for in, want := range ok {
		b, err := io.ReadAll(decodeBase64(iotest.OneByteReader(strings.NewReader(in))))
		if err != nil || string(b) != want {
			t.Errorf("%q = %q, %v; want %q", in, b, err, want)
		}
	}
	for _, in := range []string{"QQ==QUJD", "QQ=", "QUJ", "Q", "QUJD=", "QQ===", "QU JD", "QUJD-_", "QUJD\x00"} {
		_, err := io.ReadAll(decodeBase64(iotest.OneByteReader(strings.NewReader(in))))
		var ae *apiError
		if !errors.As(err, &ae) || ae.code != CodeBadBase64 {
			// base64.CorruptInputError is answered bad_base64 too.
			if err == nil || !strings.Contains(err.Error(), "illegal base64") {
				t.Errorf("%q: %v, want bad_base64", in, err)
			}
		}
	}
}
