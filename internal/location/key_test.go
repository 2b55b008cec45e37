package location

import (
	"errors"
	"strings"
	"testing"
	"unicode"
)

func TestKeyWindowsSpellingsShareOne(t *testing.T) {
	for want, spellings := range map[string][]string{
		"d:/models/blobs/sha256-9d50": {
			`D:\Models\blobs\sha256-9d50`, `d:/models/blobs/SHA256-9D50`, `D:\\MODELS\\Blobs/sha256-9d50\`, `D:/Models//blobs\sha256-9d50`,
		},
		"unc/fileserver/share/a.png": {`\\fileserver\share\a.png`, `//FileServer/Share/A.PNG`, `\\fileserver\share\\a.png\`},
		"root/srv/data/a.wav":        {`/srv/data/a.wav`, `\srv\data\a.wav`, `/SRV//data/A.wav`},
		"d:/données/modèle/ß.bin":    {`D:\DONNÉES\Modèle\ß.bin`, `d:/données/MODÈLE/ß.bin`},
		"c:/a%2fb/100%.txt":          {`C:\a%2fb\100%.txt`, `c:/A%2Fb/100%.TXT`},
	} {
		for _, s := range spellings {
			got, err := Key(s)
			if err != nil || got != want {
				t.Errorf("Key(%q) = %q, %v; want %q", s, got, err, want)
			}
		}
	}
}

func TestKeyKeepsDifferentPathsApart(t *testing.T) {
	seen := map[string]string{}
	for _, p := range []string{
		`D:\a\b`, `E:\a\b`, `\\a\b`, `\a\b`, `D:\a\b\c`, `D:\a b`, `D:\ab`, `D:\a\K`, "D:\\a\\\u212a", // Kelvin sign: another name to Windows
	} {
		k, err := Key(p)
		if err != nil {
			t.Fatalf("Key(%q): %v", p, err)
		}
		if q, ok := seen[k]; ok {
			t.Errorf("Key(%q) = Key(%q) = %q", p, q, k)
		}
		seen[k] = p
	}
}

func TestKeyRefuses(t *testing.T) {
	for p, want := range map[string]error{
		``:                   ErrEmptyPath,
		`models\a.bin`:       ErrInvalidPath, // relative
		`D:a.bin`:            ErrInvalidPath, // drive-relative
		`D:\`:                ErrPathIsRoot,
		`\\`:                 ErrPathIsRoot,
		`D:\Models\..\x`:     ErrTraversal,
		`D:\Models\%2e%2e\x`: ErrTraversal,
		"D:\\a\x00b":         ErrControlChar,
		`\\?\D:\a`:           ErrDevicePath,
		`D:\a.\b`:            ErrInvalidPath,
		"D:\\\xff":           ErrInvalidPath,
	} {
		if k, err := Key(p); !errors.Is(err, want) {
			t.Errorf("Key(%q) = %q, %v; want %v", p, k, err, want)
		}
	}
}

// TestFoldIsWindowsComparison checks Fold against its definition for every
// rune: two runes fold alike exactly when their simple uppercase mappings
// (what NTFS compares) are equal. foldRune reads only ToUpper(r), so runes
// of one class fold alike; and ToUpper(foldRune(r)) == ToUpper(r) recovers
// the class from the fold, so runes of two classes never fold alike.
func TestFoldIsWindowsComparison(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if u := unicode.ToUpper(r); unicode.ToUpper(foldRune(r)) != u {
			t.Fatalf("%U folds to %U, whose class is %U, not %U", r, foldRune(r), unicode.ToUpper(foldRune(r)), u)
		}
	}
	if got := Fold("D:\\Models\\Kelvin\u212a"); got != "d:\\models\\kelvin\u212a" {
		t.Errorf("Fold = %q", got)
	}
	if strings.ToUpper(Fold("ÉTÉ ß ǅ")) != strings.ToUpper("été ß ǆ") {
		t.Error("Fold changed a class")
	}
}

func TestEntryNameLimits(t *testing.T) {
	long := `D:\` + strings.Repeat("n", MaxNameLength)
	if _, err := EntryName(long); !errors.Is(err, ErrNameTooLong) {
		t.Errorf("EntryName(long) = %v", err)
	}
	deep := `D:\` + strings.Repeat(`a\`, MaxSegments)
	if _, err := EntryName(deep); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("EntryName(deep) = %v", err)
	}
	if n, err := EntryName(`D:\Models\blobs\sha256-ab`); err != nil || n != "paths/d:/models/blobs/sha256-ab" {
		t.Errorf("EntryName = %q, %v", n, err)
	}
}
