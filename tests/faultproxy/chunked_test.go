package faultproxy_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/hartonomous/offload/tests/faultproxy"
)

// An answer of unknown length (chunked) passes whole at Rate 0 and is cut
// without its final chunk by Truncate: framing, not storage, so a plain
// HTTP server stands in for Azurite here.
func TestChunkedAnswer(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 8<<10) // 128 KiB, beyond the cut bound
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		for c := range slices.Chunk(body, 4<<10) {
			_, _ = w.Write(c)
			http.NewResponseController(w).Flush() // no Content-Length: chunked
		}
	}))
	t.Cleanup(up.Close)

	for _, tc := range []struct {
		rate float64
		want error
	}{{0, nil}, {1, io.ErrUnexpectedEOF}} {
		p, err := faultproxy.Start(faultproxy.Config{Target: up.URL, Rate: tc.rate,
			Faults: []faultproxy.Kind{faultproxy.Truncate}, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Close)
		resp, err := http.Get(p.URL() + "/list")
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
			t.Errorf("rate %v: transfer encoding %v, want chunked", tc.rate, resp.TransferEncoding)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !errors.Is(err, tc.want) && err != tc.want {
			t.Errorf("rate %v: read error %v, want %v", tc.rate, err, tc.want)
		}
		if tc.want == nil && !bytes.Equal(got, body) {
			t.Errorf("rate 0: got %d bytes, want the %d sent", len(got), len(body))
		}
		if tc.want != nil && len(got) >= len(body) {
			t.Errorf("truncated answer gave all %d bytes", len(got))
		}
	}
}
