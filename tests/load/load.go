// Package load drives the Files HTTP API (REFERENCE §4) of a running
// `offload serve` with many concurrent clients doing what T-SQL does
// through sp_invoke_external_rest_endpoint: writes, reads, exists, lists
// and deletes of 1 KB–8 MB files, base64 in JSON. Every client checks what
// it reads back against what it wrote, and a small share of hostile
// requests must be refused. Run returns counts, failures and latency
// percentiles per operation; it asserts nothing about speed.
package load

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Config is one load run. Zero fields take the defaults.
type Config struct {
	// BaseURL is the handler, http://127.0.0.1:PORT.
	BaseURL string
	// FunctionKey is sent as x-functions-key, as the SQL credential does.
	FunctionKey string
	// Root is a FILES_ROOTS path prefix the clients work under
	// (D:\Models\load).
	Root string
	// Clients run concurrently (64), each for Duration (10s) at most and
	// MaxOps operations at most (10000).
	Clients  int
	Duration time.Duration
	MaxOps   int
	// MinSize and MaxSize bound file sizes (1 KiB, 8 MiB), drawn
	// log-uniformly: most files are small, a few are large.
	MinSize, MaxSize int64
	// Files is how many names each client cycles through (4), which
	// bounds what the run leaves in storage.
	Files int
	// Seed makes the operations and contents reproducible (1).
	Seed uint64
	// Timeout bounds one request (2 min).
	Timeout time.Duration
}

func (c *Config) defaults() error {
	if c.BaseURL == "" {
		return errors.New("load: BaseURL is required")
	}
	if c.Root == "" {
		c.Root = `D:\Models\load`
	}
	if c.Clients <= 0 {
		c.Clients = 64
	}
	if c.Duration <= 0 {
		c.Duration = 10 * time.Second
	}
	if c.MaxOps <= 0 {
		c.MaxOps = 10000
	}
	if c.MinSize <= 0 {
		c.MinSize = 1 << 10
	}
	if c.MaxSize < c.MinSize {
		c.MaxSize = max(8<<20, c.MinSize)
	}
	if c.Files <= 0 {
		c.Files = 4
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Minute
	}
	return nil
}

// Operations, in the order reports show them.
const (
	OpWrite   = "write"
	OpRead    = "read"
	OpExists  = "exists"
	OpList    = "list"
	OpDelete  = "delete"
	OpHostile = "hostile" // must be refused with a 4xx
)

// Ops lists the operations.
var Ops = []string{OpWrite, OpRead, OpExists, OpList, OpDelete, OpHostile}

// OpStats are one operation's figures.
type OpStats struct {
	Count    int
	Failures int
	Bytes    int64 // file bytes written or read back
	P50, P99 time.Duration
	Max      time.Duration
}

// Report is a load run's outcome.
type Report struct {
	Clients  int
	Duration time.Duration
	Wall     time.Duration
	Ops      map[string]*OpStats
	Requests int
	Failures int
	// FailureSamples are the first few failures, for diagnosis.
	FailureSamples []string
	// PeakRSS is filled by the caller (the server's VmHWM), and
	// MemoryBound with the bound it is held to.
	PeakRSS, MemoryBound int64
}

// Run drives the API until Duration has passed, then waits for the
// requests in flight.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               nil, // loopback only, whatever HTTP_PROXY says
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: cfg.Clients,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: cfg.Timeout}
	deadline := time.Now().Add(cfg.Duration)
	start := time.Now()

	results := make([]*clientResult, cfg.Clients)
	var wg sync.WaitGroup
	for i := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &client{cfg: cfg, id: i, hc: hc, files: map[string]file{},
				rng: rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1)), res: &clientResult{lat: map[string][]time.Duration{}, bytes: map[string]int64{}, fails: map[string]int{}}}
			results[i] = c.res
			for n := 0; n < cfg.MaxOps && time.Now().Before(deadline) && ctx.Err() == nil; n++ {
				c.step(ctx)
			}
		}()
	}
	wg.Wait()
	rep := &Report{Clients: cfg.Clients, Duration: cfg.Duration, Wall: time.Since(start), Ops: map[string]*OpStats{}}
	lat := map[string][]time.Duration{}
	for _, r := range results {
		for op, l := range r.lat {
			lat[op] = append(lat[op], l...)
		}
		for _, op := range Ops {
			st := rep.op(op)
			st.Bytes += r.bytes[op]
			st.Failures += r.fails[op]
		}
		for _, s := range r.samples {
			if len(rep.FailureSamples) < 10 {
				rep.FailureSamples = append(rep.FailureSamples, s)
			}
		}
	}
	for _, op := range Ops {
		st := rep.op(op)
		l := lat[op]
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		st.Count = len(l)
		if len(l) > 0 {
			st.P50, st.P99, st.Max = pct(l, 0.50), pct(l, 0.99), l[len(l)-1]
		}
		rep.Requests += st.Count
		rep.Failures += st.Failures
	}
	return rep, nil
}

func (r *Report) op(name string) *OpStats {
	if r.Ops[name] == nil {
		r.Ops[name] = &OpStats{}
	}
	return r.Ops[name]
}

// pct is the nearest-rank percentile of sorted l.
func pct(l []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(l)))) - 1
	return l[min(max(i, 0), len(l)-1)]
}

// file is what a client last wrote under a name.
type file struct {
	size int64
	sum  [32]byte
}

type clientResult struct {
	lat     map[string][]time.Duration
	bytes   map[string]int64
	fails   map[string]int
	samples []string
}

type client struct {
	cfg   Config
	id    int
	hc    *http.Client
	rng   *rand.Rand
	files map[string]file // name -> content; absent: not written or deleted
	ver   int
	res   *clientResult
}

func (c *client) dir() string { return fmt.Sprintf(`%s\c%02d`, c.cfg.Root, c.id) }

func (c *client) path(name string) string { return c.dir() + `\` + name }

// step does one operation drawn from the mix: 35% write, 35% read, 10%
// exists, 10% list, 5% delete, 5% hostile.
func (c *client) step(ctx context.Context) {
	name := fmt.Sprintf("f%d.bin", c.rng.IntN(c.cfg.Files))
	switch x := c.rng.IntN(100); {
	case x < 35:
		c.write(ctx, name)
	case x < 70:
		c.read(ctx, name)
	case x < 80:
		c.exists(ctx, name)
	case x < 90:
		c.list(ctx)
	case x < 95:
		c.delete(ctx, name)
	default:
		c.hostile(ctx)
	}
}

func (c *client) fail(op, format string, args ...any) {
	c.res.fails[op]++
	if len(c.res.samples) < 3 {
		c.res.samples = append(c.res.samples, fmt.Sprintf("client %d %s: ", c.id, op)+fmt.Sprintf(format, args...))
	}
}

// postString posts a small JSON body with its Content-Length, as every
// client of the Functions host must (it forwards no chunked body).
func (c *client) postString(ctx context.Context, op, body string, out any) (int, error) {
	return c.post(ctx, op, strings.NewReader(body), int64(len(body)), out)
}

// post sends a JSON body and decodes a 200 answer into out. It returns
// the status; err is a transport or decoding failure.
func (c *client) post(ctx context.Context, op string, body io.Reader, size int64, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.BaseURL+"/api/files/"+op, body)
	if err != nil {
		return 0, err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-functions-key", c.cfg.FunctionKey)
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.record(op, start)
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		c.record(op, start)
		return resp.StatusCode, nil
	}
	err = json.NewDecoder(resp.Body).Decode(out)
	c.record(op, start)
	return resp.StatusCode, err
}

func (c *client) record(op string, start time.Time) {
	c.res.lat[op] = append(c.res.lat[op], time.Since(start))
}

// content is the deterministic content of one version of a file.
func content(seed uint64, client, version int, size int64) io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(client))
	binary.LittleEndian.PutUint64(key[16:], uint64(version))
	binary.LittleEndian.PutUint64(key[24:], 0x10ad)
	return io.LimitReader(rand.NewChaCha8(key), size)
}

// logUniform draws a size between MinSize and MaxSize, log-uniformly.
func (c *client) logUniform() int64 {
	lo, hi := math.Log(float64(c.cfg.MinSize)), math.Log(float64(c.cfg.MaxSize))
	return int64(math.Exp(lo + c.rng.Float64()*(hi-lo)))
}

func (c *client) write(ctx context.Context, name string) {
	c.ver++
	size := c.logUniform()
	h := sha256.New()
	if _, err := io.Copy(h, content(c.cfg.Seed, c.id, c.ver, size)); err != nil {
		c.fail(OpWrite, "generate: %v", err)
		return
	}
	var sum [32]byte
	h.Sum(sum[:0])

	// {"path":…,"contentBase64":"…"} streamed: the content is never held
	// whole, in base64 or not.
	head := []byte(`{"path":` + jsonString(c.path(name)) + `,"contentBase64":"`)
	tail := []byte(`"}`)
	pr, pw := io.Pipe()
	go func() {
		enc := base64.NewEncoder(base64.StdEncoding, pw)
		_, err := io.Copy(enc, content(c.cfg.Seed, c.id, c.ver, size))
		if err == nil {
			err = enc.Close()
		}
		pw.CloseWithError(err)
	}()
	length := int64(len(head)) + int64(base64.StdEncoding.EncodedLen(int(size))) + int64(len(tail))
	body := io.MultiReader(bytes.NewReader(head), pr, bytes.NewReader(tail))
	var out struct {
		Path         string `json:"path"`
		BytesWritten int64  `json:"bytesWritten"`
		ETag         string `json:"etag"`
	}
	code, err := c.post(ctx, OpWrite, body, length, &out)
	pr.Close()
	switch {
	case err != nil:
		c.fail(OpWrite, "%s (%d bytes): %v", name, size, err)
	case code != http.StatusOK:
		c.fail(OpWrite, "%s (%d bytes): status %d", name, size, code)
	case out.BytesWritten != size || out.ETag == "" || out.Path != c.path(name):
		c.fail(OpWrite, "%s: answer %+v for %d bytes", name, out, size)
	default:
		c.files[name] = file{size: size, sum: sum}
		c.res.bytes[OpWrite] += size
	}
}

func (c *client) read(ctx context.Context, name string) {
	var out struct {
		Path          string  `json:"path"`
		Exists        bool    `json:"exists"`
		SizeBytes     int64   `json:"sizeBytes"`
		ETag          string  `json:"etag"`
		ContentBase64 *string `json:"contentBase64"`
	}
	code, err := c.postString(ctx, OpRead, `{"path":`+jsonString(c.path(name))+`}`, &out)
	if err != nil || code != http.StatusOK {
		c.fail(OpRead, "%s: status %d, %v", name, code, err)
		return
	}
	want, written := c.files[name]
	if !written {
		if out.Exists || out.ContentBase64 != nil {
			c.fail(OpRead, "%s: never written (or deleted) but read answers exists", name)
		}
		return
	}
	if !out.Exists || out.ContentBase64 == nil {
		c.fail(OpRead, "%s: written (%d bytes) but read answers exists=%v", name, want.size, out.Exists)
		return
	}
	data, err := base64.StdEncoding.DecodeString(*out.ContentBase64)
	switch {
	case err != nil:
		c.fail(OpRead, "%s: bad base64: %v", name, err)
	case int64(len(data)) != want.size || out.SizeBytes != want.size:
		c.fail(OpRead, "%s: %d bytes (sizeBytes %d), wrote %d", name, len(data), out.SizeBytes, want.size)
	case sha256.Sum256(data) != want.sum:
		c.fail(OpRead, "%s: content differs from what was written (sha256 %s)", name, hex.EncodeToString(want.sum[:8]))
	default:
		c.res.bytes[OpRead] += want.size
	}
}

func (c *client) exists(ctx context.Context, name string) {
	var out struct {
		Exists      bool `json:"exists"`
		IsDirectory bool `json:"isDirectory"`
	}
	code, err := c.postString(ctx, OpExists, `{"path":`+jsonString(c.path(name))+`}`, &out)
	if err != nil || code != http.StatusOK {
		c.fail(OpExists, "%s: status %d, %v", name, code, err)
		return
	}
	if _, written := c.files[name]; out.Exists != written || out.IsDirectory {
		c.fail(OpExists, "%s: exists=%v isDirectory=%v, want exists=%v", name, out.Exists, out.IsDirectory, written)
	}
}

func (c *client) list(ctx context.Context) {
	var out struct {
		Entries []struct {
			Name        string `json:"name"`
			SizeBytes   int64  `json:"sizeBytes"`
			IsDirectory bool   `json:"isDirectory"`
		} `json:"entries"`
	}
	code, err := c.postString(ctx, OpList, `{"path":`+jsonString(c.dir())+`}`, &out)
	if err != nil || code != http.StatusOK {
		c.fail(OpList, "status %d, %v", code, err)
		return
	}
	got := map[string]int64{}
	for _, e := range out.Entries {
		if e.IsDirectory {
			c.fail(OpList, "unexpected directory %q", e.Name)
			return
		}
		got[e.Name] = e.SizeBytes
	}
	if len(got) != len(c.files) {
		c.fail(OpList, "%d entries, wrote %d files", len(got), len(c.files))
		return
	}
	for name, f := range c.files {
		if size, ok := got[name]; !ok || size != f.size {
			c.fail(OpList, "%s: listed %v (%d bytes), wrote %d bytes", name, ok, size, f.size)
			return
		}
	}
}

func (c *client) delete(ctx context.Context, name string) {
	var out struct {
		Deleted bool `json:"deleted"`
	}
	code, err := c.postString(ctx, OpDelete, `{"path":`+jsonString(c.path(name))+`}`, &out)
	if err != nil || code != http.StatusOK {
		c.fail(OpDelete, "%s: status %d, %v", name, code, err)
		return
	}
	if _, written := c.files[name]; out.Deleted != written {
		c.fail(OpDelete, "%s: deleted=%v, want %v", name, out.Deleted, written)
	}
	delete(c.files, name)
}

// hostile sends a request the API must refuse with a 4xx, writing nothing.
func (c *client) hostile(ctx context.Context) {
	bodies := []string{
		`{"path":` + jsonString(c.dir()+`\..\..\escape.bin`) + `,"contentBase64":"AAAA"}`,
		`{"path":"C:\\Windows\\System32\\drivers\\etc\\hosts"}`,
		`{"path":` + jsonString(c.path("bad.bin")) + `,"contentBase64":"not base64!"}`,
		`{"path":` + jsonString(c.path("x\u0000.bin")) + `}`,
		`{"path":` + jsonString(c.path("f0.bin")) + `,"overwirte":false,"contentBase64":"AAAA"}`,
	}
	ops := []string{OpWrite, OpRead, OpWrite, OpExists, OpWrite}
	i := c.rng.IntN(len(bodies))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.BaseURL+"/api/files/"+ops[i], strings.NewReader(bodies[i]))
	if err != nil {
		c.fail(OpHostile, "%v", err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-functions-key", c.cfg.FunctionKey)
	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.record(OpHostile, start)
		c.fail(OpHostile, "%v", err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.record(OpHostile, start)
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		c.fail(OpHostile, "%s %s answered %d, want a 4xx", ops[i], bodies[i], resp.StatusCode)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
