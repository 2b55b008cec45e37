package location

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/hartonomous/offload/internal/config"
)

// Location is where a file path lives in Blob Storage.
type Location struct {
	// Container is the root's container.
	Container string
	// Name is the blob name: the part of the path after the root, with "/"
	// separators, repeated separators collapsed and a trailing one dropped,
	// otherwise kept as written (blob names are case-sensitive). "" when the
	// path is the root itself.
	Name string
	// Path is the normalised path: the root's prefix as FILES_ROOTS spells it
	// (with "/" separators) followed by Name.
	Path string
}

// IsRoot reports whether the location is a root itself (a directory).
func (l Location) IsRoot() bool { return l.Name == "" }

// Limits of Azure blob names.
const (
	// MaxNameLength is the longest blob name, in characters.
	MaxNameLength = 1024
	// MaxSegments is the most "/"-separated segments a blob name may have.
	MaxSegments = 254
)

// Path error codes, as the {"code"} of a refused request.
const (
	CodeEmptyPath   = "empty_path"
	CodeTraversal   = "path_traversal"
	CodeOutside     = "outside_roots"
	CodeControlChar = "control_character"
	CodeDevicePath  = "device_path"
	CodeNameTooLong = "name_too_long"
	CodeInvalidPath = "invalid_path"
	CodePathIsRoot  = "path_is_root"
)

// PathError is a path Map refuses. Compare with errors.Is against the Err*
// values, which match any PathError of the same code.
type PathError struct {
	Code   string
	Reason string
	Path   string
}

func (e *PathError) Error() string {
	p := e.Path
	if len(p) > 200 {
		p = p[:200] + "…"
	}
	return fmt.Sprintf("path %q: %s", p, e.Reason)
}

// Is matches the Err* sentinels by code.
func (e *PathError) Is(target error) bool {
	t, ok := target.(*PathError)
	return ok && t.Path == "" && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrEmptyPath   = &PathError{Code: CodeEmptyPath, Reason: "path is empty"}
	ErrTraversal   = &PathError{Code: CodeTraversal, Reason: "path has a . or .. segment"}
	ErrOutside     = &PathError{Code: CodeOutside, Reason: "path is outside every FILES_ROOTS root"}
	ErrControlChar = &PathError{Code: CodeControlChar, Reason: "path has a control character"}
	ErrDevicePath  = &PathError{Code: CodeDevicePath, Reason: "device paths are not files"}
	ErrNameTooLong = &PathError{Code: CodeNameTooLong, Reason: "name is too long for a blob"}
	ErrInvalidPath = &PathError{Code: CodeInvalidPath, Reason: "path is not valid"}
	ErrPathIsRoot  = &PathError{Code: CodePathIsRoot, Reason: "path is a root directory, not a file"}
)

func refuse(code, p, format string, args ...any) *PathError {
	return &PathError{Code: code, Path: p, Reason: fmt.Sprintf(format, args...)}
}

// Map maps a Windows or POSIX path under one of roots to its blob location.
//
// Separators may be "\" or "/", mixed; the root prefix (drive letter
// included) matches case-insensitively, and the longest matching root wins.
// It refuses, with a *PathError: an empty path, a "." or ".." segment (also
// percent-encoded, e.g. %2e%2e, or dots mixed with spaces), a path outside
// every root, NUL and other control characters, device paths (\\?\, \\.\,
// \??\), invalid UTF-8, segments Windows would silently alter (trailing dot
// or space) and names over MaxNameLength characters or MaxSegments segments.
// A path that is a root itself maps to a Location with an empty Name: use
// MapFile where a file is required.
//
// Every accepted path maps into its root's container, under a name with no
// "." or ".." segment: a caller can never reach outside a root.
func Map(roots []config.Root, p string) (Location, error) {
	s, err := check(p)
	if err != nil {
		return Location{}, err
	}
	root, rest, ok := matchRoot(roots, s)
	if !ok {
		return Location{}, refuse(CodeOutside, p, "path is outside every FILES_ROOTS root")
	}
	name, err := segments(p, rest)
	if err != nil {
		return Location{}, err
	}
	n := strings.Join(name, "/")
	if c := utf8.RuneCountInString(n); c > MaxNameLength {
		return Location{}, refuse(CodeNameTooLong, p, "blob name is %d characters (at most %d)", c, MaxNameLength)
	}
	return Location{Container: root.Container, Name: n, Path: root.Prefix + n}, nil
}

// check refuses what no path may hold, anywhere in it, and returns p with
// "/" separators.
func check(p string) (string, error) {
	if strings.TrimSpace(p) == "" {
		return "", refuse(CodeEmptyPath, p, "path is empty")
	}
	if !utf8.ValidString(p) {
		return "", refuse(CodeInvalidPath, p, "path is not valid UTF-8")
	}
	s := strings.ReplaceAll(p, `\`, "/")
	// Percent-decoding is only for checking: the name keeps the text as
	// written. Whatever decodes a name later (a proxy, a tool building a
	// URL) must not find a traversal in it.
	decoded := unescapeAll(s)
	for _, v := range []string{s, decoded} {
		if i := strings.IndexFunc(v, IsControl); i >= 0 {
			return "", refuse(CodeControlChar, p, "control character %U at byte %d", []rune(v[i:])[0], i)
		}
		if isDevicePath(v) {
			return "", refuse(CodeDevicePath, p, `device and \\?\ paths are refused`)
		}
		for _, seg := range strings.Split(v, "/") {
			if seg != "" && strings.Trim(seg, ". ") == "" && strings.Contains(seg, ".") {
				return "", refuse(CodeTraversal, p, "segment %q is a . or .. (relative) segment", seg)
			}
		}
	}
	return s, nil
}

// segments splits rest ("/" separators) into its non-empty segments,
// refusing those Windows would alter and more than MaxSegments.
func segments(p, rest string) ([]string, error) {
	segs := strings.Split(rest, "/")
	name := make([]string, 0, len(segs))
	for _, seg := range segs {
		if seg == "" {
			continue // Windows collapses repeated separators; so do we
		}
		if strings.TrimSpace(seg) == "" {
			return nil, refuse(CodeInvalidPath, p, "segment of spaces only")
		}
		if strings.HasSuffix(seg, ".") || strings.HasSuffix(seg, " ") {
			// Windows drops a trailing dot or space: "a." is "a" there, a
			// different blob here. Refused rather than guessed.
			return nil, refuse(CodeInvalidPath, p, "segment %q ends with a dot or space", seg)
		}
		name = append(name, seg)
	}
	if len(name) > MaxSegments {
		return nil, refuse(CodeInvalidPath, p, "%d segments (blob names allow %d)", len(name), MaxSegments)
	}
	return name, nil
}

// MapFile is Map for operations on a file: it also refuses a root itself.
func MapFile(roots []config.Root, p string) (Location, error) {
	loc, err := Map(roots, p)
	if err == nil && loc.IsRoot() {
		return Location{}, refuse(CodePathIsRoot, p, "path is the root %s, not a file", loc.Path)
	}
	return loc, err
}

// matchRoot finds the longest root prefix of s (separators already "/"),
// case-insensitively, and returns the rest. s equal to a prefix without its
// trailing "/" is that root, with an empty rest.
func matchRoot(roots []config.Root, s string) (config.Root, string, bool) {
	var best config.Root
	var rest string
	found := false
	for _, r := range roots {
		pre := r.Prefix
		if !strings.HasSuffix(pre, "/") {
			pre += "/"
		}
		var tail string
		switch {
		case len(s) >= len(pre) && strings.EqualFold(s[:len(pre)], pre):
			tail = s[len(pre):]
		case strings.EqualFold(s, pre[:len(pre)-1]):
			tail = ""
		default:
			continue
		}
		if !found || len(pre) > len(best.Prefix) {
			best, rest, found = config.Root{Prefix: pre, Container: r.Container}, tail, true
		}
	}
	return best, rest, found
}

// isDevicePath reports Win32 device and extended-length paths (\\?\, \\.\,
// \??\) in "/" form; a plain UNC path (\\server\share) is matched against
// the roots like any other.
func isDevicePath(s string) bool {
	for _, pre := range []string{"//?/", "//./", "/??/"} {
		if strings.HasPrefix(s, pre) {
			return true
		}
	}
	return s == "//?" || s == "//."
}

// IsControl is C0, DEL and C1: refused anywhere in a path.
func IsControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }

// unescapeAll percent-decodes s repeatedly (a double-encoded %252e is a dot
// to whatever decodes twice) until it no longer changes, at most a few
// rounds. Invalid escapes ("100%" in a file name) stay as written. Decoded
// backslashes become separators.
func unescapeAll(s string) string {
	for range 4 {
		d := unescape(s)
		d = strings.ReplaceAll(d, `\`, "/")
		if d == s {
			break
		}
		s = d
	}
	return s
}

func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// CleanName reports whether a blob name is in the form Map produces (used by
// tests and as a last guard before any storage call).
func CleanName(n string) bool {
	if n == "" {
		return true
	}
	return path.Clean("/"+n) == "/"+n && !strings.Contains(n, "//")
}
