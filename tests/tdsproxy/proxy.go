// Package tdsproxy is a fault-injecting TCP proxy for TDS, the protocol of
// SQL Server and Azure SQL Database, for tests. It sits between
// go-mssqldb and the T-SQL test engine and, per request (a SQL batch, an
// RPC, a transaction manager request), injects what Azure SQL's failovers
// and resource governor do to a client: the connection reset before the
// request is forwarded, after the server applied it (the answer lost), or
// in the middle of the reply (a result set, a payload chunk); delays; and
// replies that carry Azure SQL's own error numbers (40613, 40197, 40501,
// 10928, 49918) in a TDS ERROR token, which the test engine never raises,
// so that the catalog's classification is tested on the wire. SetDown
// refuses every connection for an outage (a failover, a gateway outage).
//
// Faults come either from armed rules (Arm: the next request whose SQL
// text mentions a string) or from a PRNG seeded by Config.Seed at a rate.
// It listens and forwards on loopback only, and needs the unencrypted TDS
// of encrypt=disable (the test engine's), since it reads packet headers and
// the first packet of each request.
package tdsproxy

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/hartonomous/offload/tests/faultdraw"
)

// DefaultMaxDelay bounds a Delay fault when Config.MaxDelay is zero.
const DefaultMaxDelay = 500 * time.Millisecond

// Config configures a Proxy.
type Config struct {
	// Target is the T-SQL engine's address, 127.0.0.1:PORT (loopback only).
	Target string
	// Seed makes the random faults reproducible.
	Seed int64
	// Rate is the share of requests that get a random fault, 0..1.
	Rate float64
	// Faults are the kinds random faults are drawn from; empty: AllKinds().
	Faults []Kind
	// MaxDelay bounds a Delay fault.
	MaxDelay time.Duration
	// Logger gets one line per fault (nil: discarded); never SQL text.
	Logger *slog.Logger
}

func (c *Config) defaults() error {
	if len(c.Faults) == 0 {
		c.Faults = AllKinds()
	}
	if err := faultdraw.Check(c.Faults, numKinds, c.Rate); err != nil {
		return fmt.Errorf("tdsproxy: %w", err)
	}
	host, _, err := net.SplitHostPort(c.Target)
	if err != nil || !isLoopback(host) {
		return fmt.Errorf("tdsproxy: target %q is not a loopback host:port", c.Target)
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = DefaultMaxDelay
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Rule injects Kind into the next Times requests whose SQL text mentions
// Match ("" matches every request). Number picks the AzureError's number
// (AzureNumbers; 0: the first).
type Rule struct {
	Match  string
	Kind   Kind
	Number int32
	Times  int
	outage time.Duration // DownAt's
}

// Stats counts what a Proxy did.
type Stats struct {
	Connections int64 // accepted and forwarded
	Refused     int64 // accepted during an outage and reset at once
	Outages     int64 // started by DownAt
	Requests    int64
	Faults      map[Kind]int64
	Errors      map[int32]int64 // AzureError replies by number
}

// Proxy is a running TDS fault proxy on 127.0.0.1. Safe for concurrent use.
type Proxy struct {
	cfg    Config
	log    *slog.Logger
	choose *chooser
	ln     net.Listener

	mu     sync.Mutex
	rules  []Rule
	down   bool
	conns  map[*conn]bool
	stats  Stats
	closed bool
	wg     sync.WaitGroup
}

// Start listens on 127.0.0.1 with a port the kernel chooses.
func Start(cfg Config) (*Proxy, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("tdsproxy: listen: %w", err)
	}
	p := &Proxy{cfg: cfg, log: cfg.Logger.With("target", cfg.Target), ln: ln,
		choose: newChooser(cfg.Seed, cfg.Rate, cfg.Faults), conns: map[*conn]bool{},
		stats: Stats{Faults: map[Kind]int64{}, Errors: map[int32]int64{}}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's address, 127.0.0.1:PORT.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the port the proxy listens on.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// SetRate changes the share of requests that get a random fault (0: none).
func (p *Proxy) SetRate(r float64) { p.choose.setRate(r) }

// Arm adds a rule; rules are tried in order before the random faults.
func (p *Proxy) Arm(r Rule) {
	if r.Times <= 0 {
		r.Times = 1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, r)
}

// DownAt arms an outage: the next request whose SQL text mentions match
// starts it (it and every open connection are reset), and it ends d later.
// Arming it on a statement of the work under test puts the outage in the
// middle of that work, whatever the machine's speed.
func (p *Proxy) DownAt(match string, d time.Duration) {
	p.Arm(Rule{Match: match, Kind: down, Times: 1, outage: d})
}

// Outages is how many outages started.
func (p *Proxy) Outages() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats.Outages
}

// Armed is how many armed injections are still to happen.
func (p *Proxy) Armed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.rules {
		n += r.Times
	}
	return n
}

// SetDown starts (true) or ends (false) an outage: every open connection
// is reset, and connections made meanwhile are reset as soon as accepted.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	p.down = down
	var open []*conn
	if down {
		open = slicesOf(p.conns)
	}
	p.mu.Unlock()
	for _, c := range open {
		c.reset()
	}
	p.log.Info("tdsproxy: outage", "down", down, "reset", len(open))
}

func slicesOf(m map[*conn]bool) []*conn {
	out := make([]*conn, 0, len(m))
	for c := range m {
		out = append(out, c)
	}
	return out
}

// Stats returns a copy of the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Faults, s.Errors = maps.Clone(p.stats.Faults), maps.Clone(p.stats.Errors)
	return s
}

// Close stops listening, resets every connection and waits for them.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	open := slicesOf(p.conns)
	p.mu.Unlock()
	_ = p.ln.Close()
	for _, c := range open {
		c.reset()
	}
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		cl, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p.mu.Lock()
		down, closed := p.down, p.closed
		if down {
			p.stats.Refused++
		}
		p.mu.Unlock()
		if down || closed {
			resetConn(cl)
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(cl)
		}()
	}
}

// decide is the fault of a request whose first packet is pkt.
func (p *Proxy) decide(pkt packet) (Kind, AzureErr, float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Requests++
	k, ae := None, AzureErr{}
	for i := range p.rules {
		r := &p.rules[i]
		if r.Times > 0 && (r.Match == "" || mentions(pkt, r.Match)) {
			r.Times--
			k = r.Kind
			if k == down {
				p.stats.Outages++
				d := r.outage
				time.AfterFunc(d, func() { p.SetDown(false) })
			}
			ae, _ = AzureErrorFor(r.Number)
			if ae.Number == 0 {
				ae = AzureNumbers[0]
			}
			break
		}
	}
	frac := 1.0 // an armed Delay waits MaxDelay
	if k == None {
		k, ae, frac = p.choose.next()
	}
	if k != None {
		p.stats.Faults[k]++
		if k == AzureError {
			p.stats.Errors[ae.Number]++
		}
	}
	return k, ae, frac
}

func (p *Proxy) track(c *conn, on bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if on && (p.down || p.closed) {
		return false
	}
	if on {
		p.conns[c] = true
		p.stats.Connections++
	} else {
		delete(p.conns, c)
	}
	return true
}

// resetConn closes c with a TCP RST (SO_LINGER 0), as a failed-over
// gateway does, rather than a clean FIN.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// DSN is dsn (a sqlserver:// URL) with its host and port replaced by the
// proxy's: the same database, user and options, through the proxy.
func (p *Proxy) DSN(dsn string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme != "sqlserver" || u.Host == "" {
		return "", errors.New("tdsproxy: want a sqlserver://host:port URL")
	}
	u.Host = p.Addr()
	q := u.Query()
	q.Del("port")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// StartFor starts a proxy in front of the server dsn (a sqlserver:// URL)
// names and returns it with dsn rewritten to go through it.
func StartFor(dsn string, cfg Config) (*Proxy, string, error) {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme != "sqlserver" || u.Hostname() == "" {
		return nil, "", errors.New("tdsproxy: want a sqlserver://host:port URL")
	}
	port := u.Port()
	if port == "" {
		port = u.Query().Get("port")
	}
	if port == "" {
		port = "1433"
	}
	cfg.Target = net.JoinHostPort(u.Hostname(), port)
	p, err := Start(cfg)
	if err != nil {
		return nil, "", err
	}
	proxied, err := p.DSN(dsn)
	if err != nil {
		p.Close()
		return nil, "", err
	}
	return p, proxied, nil
}
