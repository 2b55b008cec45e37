package blobstore

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkUpload measures the upload path (read, hash, stage, commit) on
// 64 MiB from memory with the default options, against Azurite.
func BenchmarkUpload(b *testing.B) {
	c, cn := setup(b)
	data := randBytes(64<<20, 1)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Upload(context.Background(), cn, "bench", bytes.NewReader(data), UploadOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
