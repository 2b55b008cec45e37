package blobstore

import (
	"strings"
	"testing"

	"github.com/hartonomous/offload/internal/config"
)

func TestNewIdentity(t *testing.T) {
	for _, st := range []config.Storage{
		{BlobServiceURL: "https://acct.blob.core.windows.net/", QueueServiceURL: "https://acct.queue.core.windows.net/"},
		{BlobServiceURL: "https://acct.blob.core.windows.net", QueueServiceURL: "https://acct.queue.core.windows.net", ClientID: "11111111-2222-3333-4444-555555555555"},
	} {
		c, err := New(st, Options{})
		if err != nil {
			t.Fatalf("%v: %v", st, err)
		}
		if got := c.URL("tensors", "1/2/3.bin"); got != "https://acct.blob.core.windows.net/tensors/1/2/3.bin" {
			t.Fatalf("URL %s", got)
		}
	}
}

func TestNewRefusesWithoutLeaking(t *testing.T) {
	secret := "c2VjcmV0LWtleS12YWx1ZQ=="
	_, err := New(config.Storage{ConnectionString: "AccountName=a;AccountKey=" + secret + ";Bogus"}, Options{})
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("err %v", err)
	}
	if _, err := New(config.Storage{}, Options{}); err == nil {
		t.Fatal("no storage accepted")
	}
}
