package location

import (
	"errors"
	"path"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hartonomous/offload/internal/config"
)

// testRoots are Hartonomous' two roots, a POSIX one, a nested one and a UNC
// share.
func testRoots(t testing.TB) []config.Root {
	t.Helper()
	roots, err := config.ParseRoots(`D:\Models\=models;D:\Repositories\Hartonomous\=repo;/srv/data/=data;D:\Models\special\=special;\\fileserver\share\=share`)
	if err != nil {
		t.Fatal(err)
	}
	return roots
}

func TestMapAccepts(t *testing.T) {
	roots := testRoots(t)
	cases := []struct {
		in, container, name, path string
	}{
		{`D:\Models\blobs\sha256-9d507a36`, "models", "blobs/sha256-9d507a36", "D:/Models/blobs/sha256-9d507a36"},
		{`D:/Models/blobs/sha256-9d507a36`, "models", "blobs/sha256-9d507a36", "D:/Models/blobs/sha256-9d507a36"},
		{`d:\models\Blobs\X.bin`, "models", "Blobs/X.bin", "D:/Models/Blobs/X.bin"},    // root case-insensitive, rest kept
		{`D:\MODELS\a\b/c\d.txt`, "models", "a/b/c/d.txt", "D:/Models/a/b/c/d.txt"},    // mixed separators
		{`D:\Models\\a\\\b\`, "models", "a/b", "D:/Models/a/b"},                        // repeated and trailing separators
		{`D:\Models\`, "models", "", "D:/Models/"},                                     // the root itself
		{`D:\Models`, "models", "", "D:/Models/"},                                      // the root without its separator
		{`D:\Models\special\x.gguf`, "special", "x.gguf", "D:/Models/special/x.gguf"},  // longest root wins
		{`D:\Models\specialist\x`, "models", "specialist/x", "D:/Models/specialist/x"}, // ...on whole segments
		{`D:\Repositories\Hartonomous\src\a.sql`, "repo", "src/a.sql", "D:/Repositories/Hartonomous/src/a.sql"},
		{`/srv/data/x/y`, "data", "x/y", "/srv/data/x/y"},
		{`\srv\data\x`, "data", "x", "/srv/data/x"},
		{`\\fileserver\share\dir\f`, "share", "dir/f", "//fileserver/share/dir/f"},
		{`D:\Models\file..name`, "models", "file..name", "D:/Models/file..name"},          // dots inside a name are fine
		{`D:\Models\.hidden`, "models", ".hidden", "D:/Models/.hidden"},                   // a leading dot too
		{`D:\Models\100%.txt`, "models", "100%.txt", "D:/Models/100%.txt"},                // an invalid escape stays
		{`D:\Models\a%20b`, "models", "a%20b", "D:/Models/a%20b"},                         // a valid one stays as written
		{`D:\Models\résumé\模型.bin`, "models", "résumé/模型.bin", "D:/Models/résumé/模型.bin"}, // Unicode
		{`D:\Models\` + strings.Repeat("a", MaxNameLength), "models", strings.Repeat("a", MaxNameLength), "D:/Models/" + strings.Repeat("a", MaxNameLength)},
	}
	for _, tc := range cases {
		loc, err := Map(roots, tc.in)
		if err != nil {
			t.Errorf("Map(%q): %v", tc.in, err)
			continue
		}
		if loc.Container != tc.container || loc.Name != tc.name || loc.Path != tc.path {
			t.Errorf("Map(%q) = %+v, want {%s %s %s}", tc.in, loc, tc.container, tc.name, tc.path)
		}
	}
}

func TestMapRefuses(t *testing.T) {
	roots := testRoots(t)
	cases := []struct {
		in   string
		want error
	}{
		{``, ErrEmptyPath},
		{`   `, ErrEmptyPath},
		{`D:\Models\..\Windows\system.ini`, ErrTraversal},
		{`D:\Models\a\..\..\x`, ErrTraversal},
		{`D:/Models/../x`, ErrTraversal},
		{`D:\Models/..\x`, ErrTraversal},
		{`D:\Models\.\x`, ErrTraversal},
		{`D:\Models\...\x`, ErrTraversal},
		{`D:\Models\. .\x`, ErrTraversal},
		{`D:\Models\.. \x`, ErrTraversal},
		{`D:\Models\%2e%2e\x`, ErrTraversal},
		{`D:\Models\%2E%2E\x`, ErrTraversal},
		{`D:\Models\%2e%2E/x`, ErrTraversal},
		{`D:\Models\.%2e\x`, ErrTraversal},
		{`D:\Models\%252e%252e\x`, ErrTraversal},
		{`D:\Models\a%2f..%2fb`, ErrTraversal},
		{`D:\Models\a%5c..%5cb`, ErrTraversal},
		{`D:\Models\..`, ErrTraversal},
		{`C:\Windows\system32\config\SAM`, ErrOutside},
		{`D:\Modelsx\a`, ErrOutside},
		{`D:Models\a`, ErrOutside},
		{`Models\a`, ErrOutside},
		{`/etc/passwd`, ErrOutside},
		{`E:\Models\a`, ErrOutside},
		{"D:\\Models\\a\x00.txt", ErrControlChar},
		{"D:\\Models\\a\nb", ErrControlChar},
		{"D:\\Models\\a\x7f", ErrControlChar},
		{"D:\\Models\\a\u0085", ErrControlChar},
		{`D:\Models\a%00.txt`, ErrControlChar},
		{`\\?\D:\Models\a`, ErrDevicePath},
		{`\\.\D:\Models\a`, ErrDevicePath},
		{`\??\D:\Models\a`, ErrDevicePath},
		{`//?/D:/Models/a`, ErrDevicePath},
		{`%5c%5c?%5cD:\Models\a`, ErrDevicePath},
		{`D:\Models\` + strings.Repeat("a", MaxNameLength+1), ErrNameTooLong},
		{`D:\Models\` + strings.Repeat("é", MaxNameLength+1), ErrNameTooLong},
		{`D:\Models\` + strings.Repeat("a/", MaxSegments+1), ErrInvalidPath},
		{`D:\Models\a.\b`, ErrInvalidPath},
		{`D:\Models\a \b`, ErrInvalidPath},
		{`D:\Models\   \b`, ErrInvalidPath},
		{"D:\\Models\\\xff\xfe", ErrInvalidPath},
	}
	for _, tc := range cases {
		loc, err := Map(roots, tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("Map(%q) = %+v, %v; want %v", tc.in, loc, err, tc.want)
			continue
		}
		var pe *PathError
		if !errors.As(err, &pe) || pe.Code != tc.want.(*PathError).Code || pe.Path != tc.in {
			t.Errorf("Map(%q): error %#v does not carry its code and path", tc.in, err)
		}
	}
}

func TestMapFileRefusesRoot(t *testing.T) {
	roots := testRoots(t)
	for _, p := range []string{`D:\Models\`, `D:\Models`, `d:/models//`, `/srv/data`} {
		if _, err := MapFile(roots, p); !errors.Is(err, ErrPathIsRoot) {
			t.Errorf("MapFile(%q) = %v, want ErrPathIsRoot", p, err)
		}
		if loc, err := Map(roots, p); err != nil || !loc.IsRoot() {
			t.Errorf("Map(%q) = %+v, %v, want the root", p, loc, err)
		}
	}
	if loc, err := MapFile(roots, `D:\Models\a`); err != nil || loc.Name != "a" {
		t.Errorf("MapFile of a file: %+v, %v", loc, err)
	}
}

// checkMapped asserts the invariants of an accepted path; the fuzz target
// and the table tests share it.
func checkMapped(t *testing.T, roots []config.Root, in string, loc Location) {
	t.Helper()
	var root *config.Root
	for i := range roots {
		if roots[i].Container == loc.Container && loc.Path == roots[i].Prefix+loc.Name {
			root = &roots[i]
		}
	}
	if root == nil {
		t.Fatalf("Map(%q) = %+v: not under a root's container and prefix", in, loc)
	}
	if !CleanName(loc.Name) || strings.HasPrefix(loc.Name, "/") || strings.HasSuffix(loc.Name, "/") {
		t.Fatalf("Map(%q): unclean name %q", in, loc.Name)
	}
	for _, v := range []string{loc.Name, unescapeAll(loc.Name)} {
		for _, seg := range strings.Split(v, "/") {
			if loc.Name != "" && (seg == "." || seg == ".." || seg != "" && strings.Trim(seg, ". ") == "" && strings.Contains(seg, ".")) {
				t.Fatalf("Map(%q): name %q has segment %q", in, loc.Name, seg)
			}
		}
		if path.Clean("/"+v) != "/"+v && v == loc.Name {
			t.Fatalf("Map(%q): name %q escapes after cleaning", in, loc.Name)
		}
		if strings.IndexFunc(v, IsControl) >= 0 {
			t.Fatalf("Map(%q): name %q has a control character", in, loc.Name)
		}
	}
	if !utf8.ValidString(loc.Name) || utf8.RuneCountInString(loc.Name) > MaxNameLength {
		t.Fatalf("Map(%q): name %q invalid or too long", in, loc.Name)
	}
	// Mapping is idempotent: the normalised path maps to itself.
	again, err := Map(roots, loc.Path)
	if err != nil || again != loc {
		t.Fatalf("Map(%q) = %+v, but Map(%q) = %+v, %v", in, loc, loc.Path, again, err)
	}
}

func TestMapInvariantsOnTable(t *testing.T) {
	roots := testRoots(t)
	for _, p := range []string{`D:\Models\a\b`, `d:/MODELS/x`, `/srv/data/q`, `D:\Models\special\z`, `\\fileserver\share\s`, `D:\Models`} {
		loc, err := Map(roots, p)
		if err != nil {
			t.Fatal(err)
		}
		checkMapped(t, roots, p, loc)
	}
}

// FuzzMapPath: whatever the input, Map either refuses it with a
// *PathError or maps it inside a root's container under a clean name.
// Seeds are in testdata/fuzz/FuzzMapPath.
func FuzzMapPath(f *testing.F) {
	for _, s := range []string{`D:\Models\a`, `D:\Models\..\x`, `/srv/data/%2e%2e/x`, `\\?\D:\Models\a`} {
		f.Add(s)
	}
	roots := testRoots(f)
	f.Fuzz(func(t *testing.T, in string) {
		loc, err := Map(roots, in)
		if err != nil {
			var pe *PathError
			if !errors.As(err, &pe) || pe.Code == "" {
				t.Fatalf("Map(%q): error %v is not a *PathError with a code", in, err)
			}
			return
		}
		checkMapped(t, roots, in, loc)
		if _, err := MapFile(roots, in); (err == nil) == loc.IsRoot() {
			t.Fatalf("MapFile(%q) = %v for location %+v", in, err, loc)
		}
	})
}
