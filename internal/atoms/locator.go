package atoms

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/hartonomous/offload/internal/config"
)

// LocatorRoot maps a PayloadLocator prefix, as the catalog spells it (for
// example D:\Models\), to the local directory that holds those files on the
// machine running the upload (for example /mnt/models).
type LocatorRoot struct {
	Prefix string
	Dir    string
}

// MapLocators returns a UploadParams.LocatorMap for roots. Prefixes match
// with either slash and case-insensitively (Windows paths); the first
// matching root wins. A locator under no root is refused, never guessed.
func MapLocators(roots []LocatorRoot) func(string) (string, error) {
	norm := func(p string) string { return strings.ReplaceAll(p, `\`, "/") }
	return func(locator string) (string, error) {
		loc := norm(locator)
		for _, r := range roots {
			pfx := norm(r.Prefix)
			if !strings.HasSuffix(pfx, "/") {
				pfx += "/"
			}
			if len(loc) > len(pfx) && strings.EqualFold(loc[:len(pfx)], pfx) {
				rest := loc[len(pfx):]
				for _, part := range strings.Split(rest, "/") {
					if part == ".." {
						return "", fmt.Errorf("locator %q climbs out of its root", locator)
					}
				}
				return filepath.Join(r.Dir, filepath.FromSlash(rest)), nil
			}
		}
		return "", fmt.Errorf("locator %q is under no locator root", locator)
	}
}

// ParseLocatorRoots parses "PREFIX=DIR;PREFIX=DIR" (the last "=" of each
// part separates them, as in FILES_ROOTS).
func ParseLocatorRoots(s string) ([]LocatorRoot, error) {
	pairs, err := config.SplitPairs(s, "PREFIX=DIR")
	if err != nil {
		return nil, fmt.Errorf("locator root: %w", err)
	}
	var roots []LocatorRoot
	for _, pair := range pairs {
		roots = append(roots, LocatorRoot{Prefix: pair[0], Dir: pair[1]})
	}
	return roots, nil
}

// localPath is the default LocatorMap: the locator names a file on this
// machine. A Windows path (the catalog's usual D:\Models\…) on another OS
// is refused with what to do rather than looked up and not found.
func localPath(locator string) (string, error) {
	if locator == "" {
		return "", fmt.Errorf("no PayloadLocator")
	}
	if filepath.Separator != '\\' && (strings.Contains(locator, `\`) || len(locator) > 1 && locator[1] == ':') {
		return "", fmt.Errorf("PayloadLocator %q is a Windows path: map it to a local directory with a locator root (PREFIX=DIR)", locator)
	}
	return filepath.Clean(locator), nil
}

// locatorBase is the last element of a locator, with either separator.
func locatorBase(locator string) string {
	return locator[strings.LastIndexAny(locator, `/\`)+1:]
}
