package location

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// ContentPrefix starts a content name: sha256-<64 lowercase hex>, the name
// of an uploaded atom blob (and of Ollama's model files).
const ContentPrefix = "sha256-"

// ReceiptPrefix starts the name of an upload receipt: the digest recorded
// for an exact PayloadLocator that is not content-named, read by the link
// step (receipts are the uploads' own bookkeeping; paths are found through
// the index).
const ReceiptPrefix = "locators/"

// ContentName is the blob name of content with this SHA-256.
func ContentName(sum []byte) string { return ContentPrefix + hex.EncodeToString(sum) }

// ParseContentName returns the lowercase hex digest a content name claims:
// "sha256-" and 64 hex digits, in any case (the blob name is lowercase).
// Anything else is refused: for a file given by name, the name is the only
// proof of what it should hold.
func ParseContentName(name string) (string, error) {
	if len(name) != len(ContentPrefix)+64 || !strings.EqualFold(name[:len(ContentPrefix)], ContentPrefix) {
		return "", fmt.Errorf("%q is not named sha256-<64 hex>", name)
	}
	h := strings.ToLower(name[len(ContentPrefix):])
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", fmt.Errorf("%q is not named sha256-<64 hex>", name)
		}
	}
	return h, nil
}
