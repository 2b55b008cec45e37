package location

import (
	"strings"
	"testing"
)

func TestParseContentName(t *testing.T) {
	hex := strings.Repeat("0123456789abcdef", 4)
	// Any case of the hex (and of the prefix, as T-SQL's CHARINDEX matches
	// it): the blob name is lowercase.
	for _, good := range []string{"sha256-" + hex, "sha256-" + strings.ToUpper(hex), "SHA256-" + hex} {
		if h, err := ParseContentName(good); err != nil || h != hex {
			t.Fatalf("ParseContentName(%q): %q %v", good, h, err)
		}
	}
	for _, bad := range []string{
		"", hex, "sha256-", "sha256:" + hex, "sha256-" + hex[:63], "sha256-" + hex + "0",
		"sha256-" + hex[:63] + "g", "sha256-" + hex + "-partial", "sha256--" + hex[1:],
	} {
		if _, err := ParseContentName(bad); err == nil {
			t.Errorf("ParseContentName(%q) accepted", bad)
		}
	}
}
