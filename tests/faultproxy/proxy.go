// Package faultproxy is a fault-injecting HTTP proxy for tests. It sits
// between Offload's Azure Storage clients and Azurite (one proxy per
// service: blob, queue) and, for a chosen share of the requests, injects
// the failures a real network and a throttled storage account produce:
// connection resets before and after the request reached the service,
// answers cut mid-body, delays, 503 ServerBusy and 500 InternalError.
//
// Faults come from a PRNG seeded by Config.Seed: the same seed and the same
// order of requests give the same faults. Requests are otherwise forwarded
// verbatim (method, path, query, headers including Authorization and
// x-ms-date), with bodies streamed both ways, never held whole in memory.
//
// The Host header is rewritten to the target's. That does not break
// SharedKey: its string-to-sign covers the method, the standard headers, the
// x-ms-* headers and the canonicalized resource (/account/path + query), not
// Host (TestTransparent checks it against Azurite).
package faultproxy

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/tests/faultdraw"
)

// DefaultMaxDelay bounds a Delay fault when Config.MaxDelay is zero.
const DefaultMaxDelay = time.Second

// chunkedCut bounds the bytes sent of an answer of unknown length before it
// is cut (the proxy never buffers a body to learn its length).
const chunkedCut = 64 << 10

// Config configures a Proxy.
type Config struct {
	// Target is the Azurite service to forward to: http://127.0.0.1:PORT of
	// its blob or queue service (scheme and host only).
	Target string
	// Seed makes the fault sequence reproducible.
	Seed int64
	// Rate is the share of requests that get a fault, 0..1 (0.10: one in ten).
	Rate float64
	// Faults are the kinds to choose from, with equal odds; empty: AllKinds().
	Faults []Kind
	// MaxDelay bounds a Delay fault (DefaultMaxDelay when zero).
	MaxDelay time.Duration
	// Logger gets one line per injected fault (nil: discarded). Only the
	// method and path are logged, never headers or the query (a SAS).
	Logger *slog.Logger
}

func (c *Config) defaults() error {
	if len(c.Faults) == 0 {
		c.Faults = AllKinds()
	}
	if err := faultdraw.Check(c.Faults, numKinds, c.Rate); err != nil {
		return fmt.Errorf("faultproxy: %w", err)
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = DefaultMaxDelay
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Stats counts what a Proxy did.
type Stats struct {
	// Requests received.
	Requests int64
	// Forwarded is how many of them reached the target.
	Forwarded int64
	// Faults counts the requests that got each kind (None not counted).
	Faults map[Kind]int64
	// Retried counts the requests that repeat (same method and URL) a
	// request that got a failing fault (any kind but Delay): the SDK's
	// retries, and a redelivered message staging the same block again.
	Retried int64
}

// Faulted is the number of requests that got any fault.
func (s Stats) Faulted() int64 {
	var n int64
	for _, v := range s.Faults {
		n += v
	}
	return n
}

// Proxy is a running fault-injecting proxy on 127.0.0.1. It is safe for
// concurrent use.
type Proxy struct {
	target *url.URL
	cfg    Config
	log    *slog.Logger
	choose *chooser
	ln     net.Listener
	srv    *http.Server
	tr     *http.Transport

	mu     sync.Mutex
	stats  Stats
	closed bool
	// failed holds "METHOD URL" of the requests that got a failing fault
	// and have not been sent again yet.
	failed map[string]bool
	// active counts running handlers, so Close returns only once no
	// request is on its way to the target any more.
	active sync.WaitGroup
}

// Start listens on 127.0.0.1 with a port chosen by the kernel and serves
// until Close.
func Start(cfg Config) (*Proxy, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	t, err := url.Parse(cfg.Target)
	if err != nil || t.Scheme != "http" || t.Host == "" || strings.Trim(t.Path, "/") != "" {
		return nil, fmt.Errorf("faultproxy: target %q is not http://host:port", cfg.Target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{
		target: &url.URL{Scheme: t.Scheme, Host: t.Host},
		cfg:    cfg,
		log:    cfg.Logger.With("target", t.Host),
		choose: newChooser(cfg.Seed, cfg.Rate, cfg.Faults),
		ln:     ln,
		tr: &http.Transport{
			Proxy:               nil, // straight to the target, whatever HTTP_PROXY says
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
			// Keep Accept-Encoding and bodies exactly as the two ends send them.
			DisableCompression: true,
		},
		stats:  Stats{Faults: map[Kind]int64{}},
		failed: map[string]bool{},
	}
	p.srv = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 30 * time.Second,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
	}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL is the proxy's base URL, http://127.0.0.1:PORT (no trailing slash).
func (p *Proxy) URL() string { return "http://" + p.ln.Addr().String() }

// Port is the port the proxy listens on.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// SetRate changes the share of requests that get a fault, clamped to 0..1;
// SetRate(0) makes the proxy transparent, e.g. for a final verification.
func (p *Proxy) SetRate(rate float64) { p.choose.setRate(rate) }

// Stats returns a copy of the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Faults = maps.Clone(p.stats.Faults)
	return s
}

// Close stops the proxy: it closes the listener and every client
// connection, and waits for the handlers still running.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.srv.Close()
	p.active.Wait()
	p.tr.CloseIdleConnections()
}

// DevConnectionString is the devstoreaccount1 connection string whose blob
// and queue endpoints go through the given proxies (Proxy.URL values); an
// empty URL leaves that endpoint out.
func DevConnectionString(blobProxyURL, queueProxyURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;", config.DevAccountName, config.DevAccountKey)
	if blobProxyURL != "" {
		fmt.Fprintf(&b, "BlobEndpoint=%s/%s;", strings.TrimRight(blobProxyURL, "/"), config.DevAccountName)
	}
	if queueProxyURL != "" {
		fmt.Fprintf(&b, "QueueEndpoint=%s/%s;", strings.TrimRight(queueProxyURL, "/"), config.DevAccountName)
	}
	return b.String()
}

// ServeHTTP draws a fault for the request and serves it.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		panic(http.ErrAbortHandler)
	}
	p.active.Add(1)
	p.stats.Requests++
	key := r.Method + " " + r.URL.String()
	if p.failed[key] {
		p.stats.Retried++
		delete(p.failed, key)
	}
	f := p.choose.next()
	if f.kind != None {
		p.stats.Faults[f.kind]++
	}
	if f.kind != None && f.kind != Delay {
		p.failed[key] = true
	}
	p.mu.Unlock()
	defer p.active.Done()
	if f.kind != None {
		p.log.Info("faultproxy: injecting fault", "fault", f.kind.String(), "method", r.Method, "path", r.URL.Path)
	}

	switch f.kind {
	case ResetBeforeForward:
		hangUp(w, true)
		return
	case ServerBusy503, Internal500:
		// Read the body first, as the service does, so the client is not
		// cut off while still sending a large block.
		_, _ = io.Copy(io.Discard, r.Body)
		if f.kind == ServerBusy503 {
			writeStorageError(w, r, http.StatusServiceUnavailable, codeServerBusy, msgServerBusy)
		} else {
			writeStorageError(w, r, http.StatusInternalServerError, codeInternalError, msgInternalError)
		}
		return
	case Delay:
		t := time.NewTimer(time.Duration(f.frac * float64(p.cfg.MaxDelay)))
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}

	resp, err := p.forward(r)
	if err != nil {
		if r.Context().Err() == nil {
			p.log.Warn("faultproxy: target unreachable", "method", r.Method, "path", r.URL.Path, "err", err)
			http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
		}
		return
	}
	defer resp.Body.Close()

	switch f.kind {
	case ResetAfterForward:
		hangUp(w, true)
	case ResetMidBody:
		cut(w, r, resp, f.frac, true)
	case Truncate:
		cut(w, r, resp, f.frac, false)
	default:
		copyResponse(w, resp)
	}
}

// forward sends r to the target with its body streamed.
func (p *Proxy) forward(r *http.Request) (*http.Response, error) {
	u := *p.target
	u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	out.URL = &u
	out.Header = cleanHeader(r.Header)
	// A known length is forwarded as Content-Length (a nil body for zero:
	// the transport would send an empty non-nil body chunked).
	out.ContentLength = r.ContentLength
	if r.ContentLength != 0 {
		out.Body = r.Body
	}
	p.mu.Lock()
	p.stats.Forwarded++
	p.mu.Unlock()
	return p.tr.RoundTrip(out)
}

// copyResponse relays the target's answer verbatim, streaming the body.
func copyResponse(w http.ResponseWriter, resp *http.Response) {
	h := w.Header()
	maps.Copy(h, cleanHeader(resp.Header))
	if _, ok := resp.Header["Content-Type"]; !ok {
		h["Content-Type"] = nil // no sniffed type the service did not send
	}
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		// The target failed mid-body: make the client see it too, never a
		// short body that looks complete.
		panic(http.ErrAbortHandler)
	}
}

// cut sends the status line, the headers and part of the body (a share
// frac of it), then hangs up: with a reset (rst) or a clean close. An
// answer with no body to cut is cut inside its headers instead, so the
// client always sees an incomplete answer.
func cut(w http.ResponseWriter, r *http.Request, resp *http.Response, frac float64, rst bool) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer closeConn(conn, rst)
	bw := brw.Writer
	h := cleanHeader(resp.Header)
	status := fmt.Sprintf("HTTP/1.1 %s\r\n", resp.Status)

	noBody := r.Method == http.MethodHead || resp.StatusCode < 200 ||
		resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified ||
		resp.ContentLength == 0
	if noBody {
		var head strings.Builder
		head.WriteString(status)
		_ = h.Write(&head)
		head.WriteString("\r\n")
		// Leave out at least the final "\n": the header block never ends.
		n := int(frac * float64(head.Len()-1))
		_, _ = bw.WriteString(head.String()[:n])
		_ = bw.Flush()
		return
	}

	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	if resp.ContentLength > 0 {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	} else {
		h.Set("Transfer-Encoding", "chunked")
	}
	_, _ = bw.WriteString(status)
	_ = h.Write(bw)
	_, _ = bw.WriteString("\r\n")
	if resp.ContentLength > 0 {
		// frac < 1, so at least one byte is missing.
		_, _ = io.CopyN(bw, resp.Body, int64(frac*float64(resp.ContentLength)))
	} else {
		// Chunks without the final zero-length chunk: incomplete whatever
		// the length of the body turns out to be.
		_, _ = io.CopyN(httputil.NewChunkedWriter(bw), resp.Body, int64(frac*chunkedCut))
	}
	_ = bw.Flush()
}

// hangUp drops the client connection without answering.
func hangUp(w http.ResponseWriter, rst bool) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable: the server still closes without an answer.
		panic(http.ErrAbortHandler)
	}
	closeConn(conn, rst)
}

// closeConn closes c, with a TCP RST instead of a FIN when rst is set, as a
// crashed peer or a middlebox dropping the flow does.
func closeConn(c net.Conn, rst bool) {
	if tc, ok := c.(*net.TCPConn); ok && rst {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// cleanHeader copies h without its hop-by-hop headers: those name one
// connection, not the message (RFC 9110 §7.6.1).
func cleanHeader(h http.Header) http.Header {
	out := h.Clone()
	for _, f := range out.Values("Connection") {
		for _, name := range strings.Split(f, ",") {
			out.Del(strings.TrimSpace(name))
		}
	}
	for _, name := range [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"} {
		out.Del(name)
	}
	return out
}
