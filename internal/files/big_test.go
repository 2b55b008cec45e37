package files

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const size50MB = 50 << 20

// payload is a deterministic stream of n pseudo-random bytes.
func payload(n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{'o', 'f', 'f', 'l', 'o', 'a', 'd'}), n)
}

func payloadSum(n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, payload(n))
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// writeStreamed sends a write of n payload bytes as base64 JSON, generated
// on the fly (the test holds no copy), with an exact Content-Length as
// sp_invoke_external_rest_endpoint sends.
func (h *harness) writeStreamed(path string, n int64) (int, []byte) {
	h.t.Helper()
	head := `{"path":` + sqlJSONString(path) + `,"contentBase64":"`
	const tail = `"}`
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		bw.WriteString(head)
		enc := base64.NewEncoder(base64.StdEncoding, bw)
		io.Copy(enc, payload(n))
		enc.Close()
		bw.WriteString(tail)
		pw.CloseWithError(bw.Flush())
	}()
	req, err := http.NewRequest(http.MethodPost, h.url+"/api/files/write", pr)
	if err != nil {
		h.t.Fatal(err)
	}
	req.ContentLength = int64(len(head)) + int64(base64.StdEncoding.EncodedLen(int(n))) + int64(len(tail))
	sqlHeaders(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// readStreamed reads path and returns the answer's fields before the
// content, and the size and SHA-256 of the decoded content, holding none
// of it.
func (h *harness) readStreamed(path string) (map[string]any, int64, [32]byte) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.url+"/api/files/read", strings.NewReader(forJSON("path", path)))
	if err != nil {
		h.t.Fatal(err)
	}
	sqlHeaders(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		h.t.Fatalf("read: %d %s", resp.StatusCode, b)
	}
	if resp.ContentLength <= 0 {
		h.t.Fatalf("read: no Content-Length")
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	const marker = `"contentBase64":"`
	var head []byte
	for !bytes.HasSuffix(head, []byte(marker)) {
		c, err := br.ReadByte()
		if err != nil || len(head) > 64<<10 {
			h.t.Fatalf("read: no contentBase64 in %.200q (%v)", head, err)
		}
		head = append(head, c)
	}
	var fields map[string]any
	if err := json.Unmarshal(append(bytes.TrimSuffix(head, []byte(marker)), []byte(`"end":0}`)...), &fields); err != nil {
		h.t.Fatalf("read: head %q: %v", head, err)
	}
	p := newObjParser(br)
	p.openString = true
	sum := sha256.New()
	n, err := io.Copy(sum, decodeBase64(&stringReader{p: p}))
	if err != nil {
		h.t.Fatalf("read: content: %v", err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "}" {
		h.t.Fatalf("read: answer ends with %q", rest)
	}
	var s [32]byte
	copy(s[:], sum.Sum(nil))
	return fields, n, s
}

// TestWriteRead50MB: 50 MB through write and read, byte for byte.
func TestWriteRead50MB(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB round trip skipped in -short mode")
	}
	h := setup(t)
	want := payloadSum(size50MB)
	var peakHeap atomic.Uint64
	stop := sampleHeap(&peakHeap)
	defer stop()
	status, body := h.writeStreamed(`D:\Models\blobs\big.bin`, size50MB)
	if status != 200 || !strings.Contains(string(body), `"bytesWritten":`+strconv.Itoa(size50MB)) {
		t.Fatalf("write: %d %s", status, body)
	}
	fields, n, sum := h.readStreamed(`D:\Models\blobs\big.bin`)
	if n != size50MB || sum != want || fields["sizeBytes"] != float64(size50MB) || fields["exists"] != true {
		t.Fatalf("read back %d bytes (sum match %v), fields %v", n, sum == want, fields)
	}
	// Holding the file whole on either side (50 MB, 67 MB as base64) would
	// take the heap past the payload's size.
	stop()
	if p := peakHeap.Load(); p >= size50MB {
		t.Fatalf("peak heap in use %d MB: a 50 MB payload was held in memory", p>>20)
	}
}

// BenchmarkWriteRead50MB writes and reads 50 MB per iteration and reports
// the process's peak RSS (VmHWM) and the peak heap in use sampled during
// the run: both stay far below the payload, the proof that neither side
// holds the file.
func BenchmarkWriteRead50MB(b *testing.B) {
	h := setup(b)
	b.SetBytes(2 * size50MB)
	resetPeakRSS()
	var peakHeap atomic.Uint64
	stop := sampleHeap(&peakHeap)
	for b.Loop() {
		if status, body := h.writeStreamed(`D:\Models\bench.bin`, size50MB); status != 200 {
			b.Fatalf("write: %d %s", status, body)
		}
		if _, n, _ := h.readStreamed(`D:\Models\bench.bin`); n != size50MB {
			b.Fatalf("read %d bytes", n)
		}
	}
	stop()
	b.ReportMetric(float64(peakHeap.Load())/(1<<20), "peak-heap-MB")
	if rss, ok := peakRSS(); ok {
		b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB")
	}
}

// sampleHeap records the largest HeapInuse seen every few milliseconds
// until the returned stop is called.
func sampleHeap(peak *atomic.Uint64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// resetPeakRSS restarts VmHWM (Linux: clear_refs 5); best effort.
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS is VmHWM from /proc/self/status, in bytes.
func peakRSS() (int64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return kb << 10, true
			}
		}
	}
	return 0, false
}
