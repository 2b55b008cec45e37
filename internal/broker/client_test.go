package broker

import (
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/config"
)

func TestNewIdentityAndRefusals(t *testing.T) {
	t.Parallel()
	for _, st := range []config.Storage{
		{BlobServiceURL: "https://a.blob.core.windows.net/", QueueServiceURL: "https://a.queue.core.windows.net/"},
		{BlobServiceURL: "https://a.blob.core.windows.net/", QueueServiceURL: "https://a.queue.core.windows.net/", ClientID: "11111111-2222-3333-4444-555555555555"},
	} {
		if _, err := New(st, Options{}); err != nil {
			t.Fatalf("%v: %v", st, err)
		}
	}
	secret := "c2VjcmV0LWtleS12YWx1ZQ=="
	if _, err := New(config.Storage{ConnectionString: "AccountKey=" + secret + ";Bogus"}, Options{}); err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("bad connection string: %v", err)
	}
	if _, err := New(config.Storage{}, Options{}); err == nil {
		t.Fatal("no storage accepted")
	}
}
