package location

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Key returns the one spelling that every way of writing the same Windows
// path shares: separators "/" (either separator accepted, repeated ones
// collapsed, a trailing one dropped) and every letter folded as Windows
// compares file names (Fold). The kind of path is kept in a first segment,
// so that different paths never share a key:
//
//	D:\Models\blobs\sha256-9D50…     → d:/models/blobs/sha256-9d50…
//	d:/MODELS//Blobs/sha256-9d50…\   → d:/models/blobs/sha256-9d50…
//	\\fileserver\share\a.png         → unc/fileserver/share/a.png
//	/srv/data/a.wav, \srv\data\a.wav → root/srv/data/a.wav
//
// It refuses, with a *PathError, what Map refuses anywhere in a path (see
// Map) and a relative path (D:x, models\x): only absolute paths name one
// file wherever they are read.
func Key(p string) (string, error) {
	s, err := check(p)
	if err != nil {
		return "", err
	}
	var kind, rest string
	switch {
	case strings.HasPrefix(s, "//"):
		kind, rest = "unc", s[2:]
	case strings.HasPrefix(s, "/"):
		kind, rest = "root", s[1:]
	case len(s) >= 3 && s[1] == ':' && s[2] == '/' && isLetter(s[0]):
		kind, rest = s[:2], s[3:]
	default:
		return "", refuse(CodeInvalidPath, p, "path is relative: only an absolute path (D:\\…, \\\\server\\share\\…, /…) names one file")
	}
	segs, err := segments(p, rest)
	if err != nil {
		return "", err
	}
	if len(segs) == 0 {
		return "", refuse(CodePathIsRoot, p, "path is a drive or share root, not a file")
	}
	return Fold(kind + "/" + strings.Join(segs, "/")), nil
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// Fold folds s as Windows compares file names: two names are the same
// file when their simple uppercase mappings are equal (NTFS's upcase
// table, with no Unicode normalisation). The result is lower case where
// that keeps the same classes (readable blob names), upper case for the
// few letters whose lower case would merge two classes (the Kelvin sign
// and K are different names to Windows): Fold(a) == Fold(b) exactly when
// strings.ToUpper(a) == strings.ToUpper(b), rune by rune.
func Fold(s string) string {
	return strings.Map(foldRune, s)
}

func foldRune(r rune) rune {
	u := unicode.ToUpper(r)
	if l := unicode.ToLower(u); unicode.ToUpper(l) == u {
		return l
	}
	return u
}

// foldedLen is the length in characters of a key under a prefix, for the
// blob name limits.
func foldedLen(prefix, key string) int {
	return utf8.RuneCountInString(prefix) + utf8.RuneCountInString(key)
}
