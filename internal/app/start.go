package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/engines"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/server"
)

// StartOptions tune Start; zero values take the defaults.
type StartOptions struct {
	// AttemptTimeout bounds one catalog connection attempt. Default 15s: a
	// paused serverless Azure SQL accepts the connection and answers once
	// it has resumed, which takes about a minute; each attempt nudges it.
	AttemptTimeout time.Duration
	// Attempts is how many attempts one round makes before it gives up;
	// the next request that needs the catalog starts another. Default 8.
	Attempts int
	// RetryDelay doubles after each failed attempt up to MaxRetryDelay.
	// Defaults 1s and 30s.
	RetryDelay, MaxRetryDelay time.Duration
	// PrepareTimeout bounds one round of Prepare (containers and queue);
	// rounds repeat, with the same back-off, until one succeeds. Default 30s.
	PrepareTimeout time.Duration
	// Open opens the catalog (OpenCatalog; tests inject).
	Open func(ctx context.Context, dsn string) (catalog.Catalog, error)
}

func (o *StartOptions) defaults() {
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 15 * time.Second
	}
	if o.Attempts <= 0 {
		o.Attempts = 8
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = time.Second
	}
	if o.MaxRetryDelay <= 0 {
		o.MaxRetryDelay = 30 * time.Second
	}
	if o.PrepareTimeout <= 0 {
		o.PrepareTimeout = 30 * time.Second
	}
	if o.Open == nil {
		o.Open = engines.Open
	}
}

// Starter is an App that connects after it is started: the custom
// handler answers the host's readiness poll at once, whatever its catalog
// and storage do, and its functions arrive as their dependencies answer
// (server.Provider). Storage needs no connection of its own (its clients
// make none until a request), so Files and PublishMessage are there from
// the start; the catalog is opened in the background, with bounded,
// logged retries, and the functions that need it come once it is.
type Starter struct {
	opt    StartOptions
	log    *slog.Logger
	tuning Tuning
	base   *App // storage only
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	full     *App          // set once the catalog is open
	ready    chan struct{} // closed when full is set
	running  bool          // a connection round runs
	trying   chan struct{} // closed when the attempt in progress ends; nil between attempts
	catErr   error         // why the catalog is not open yet
	storeErr error         // why Prepare has not succeeded yet ("" once it has)
	since    time.Time
}

var _ server.Provider = (*Starter)(nil)

// Start builds the storage clients and starts connecting the catalog and
// preparing storage in the background. It fails only when the storage
// settings cannot make a client (no request is made).
func Start(cfg config.Config, host config.Host, log *slog.Logger, t Tuning, opt StartOptions) (*Starter, error) {
	if opt.Open == nil {
		// The Starter retries the connection in rounds of its own and reports
		// a refusing catalog at once: Open pings once.
		o := catalogOptions(cfg, log, t)
		o.PingOnce = true
		opt.Open = func(ctx context.Context, dsn string) (catalog.Catalog, error) { return engines.OpenWith(ctx, dsn, o) }
	}
	opt.defaults()
	base, err := openStorage(cfg, log)
	if err != nil {
		return nil, err
	}
	base.Host = host
	ctx, cancel := context.WithCancel(context.Background())
	s := &Starter{opt: opt, log: log, tuning: t, base: base, ctx: ctx, cancel: cancel,
		ready: make(chan struct{}), since: time.Now(),
		catErr:   fmt.Errorf("catalog (%s): connecting", config.SettingSQL),
		storeErr: fmt.Errorf("storage (%s): not answered yet", storageSetting(cfg.Storage))}
	s.mu.Lock()
	s.startRound()
	s.mu.Unlock()
	s.wg.Add(1)
	go s.prepare()
	return s, nil
}

// Functions implements server.Provider.
func (s *Starter) Functions() (server.Functions, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full != nil {
		return s.full.Functions(), nil
	}
	return s.base.Functions(), s.catErr
}

// Wait implements server.Provider: it waits, within ctx, for the outcome
// of the connection attempt in progress (starting a round when none runs:
// the last one gave up), and returns at once with the last attempt's
// error between attempts. A catalog that refuses is reported in
// milliseconds, one that does not answer after AttemptTimeout, and the
// caller (the host retrying a message, T-SQL retrying a call) comes back.
func (s *Starter) Wait(ctx context.Context) error {
	s.mu.Lock()
	if s.full != nil {
		s.mu.Unlock()
		return nil
	}
	if !s.running {
		s.startRound()
	}
	trying := s.trying
	s.mu.Unlock()
	if trying != nil {
		select {
		case <-s.ready:
			return nil
		case <-ctx.Done():
		case <-trying:
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.full != nil {
		return nil
	}
	return s.catErr
}

// Health implements server.Provider: the dependencies not answering.
func (s *Starter) Health() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	if s.full == nil {
		parts = append(parts, s.catErr.Error())
	}
	if s.storeErr != nil {
		parts = append(parts, fmt.Sprintf("%v (since %s)", s.storeErr, s.since.UTC().Format(time.RFC3339)))
	}
	return strings.Join(parts, "; ")
}

// App is the whole App once the catalog is open (nil before).
func (s *Starter) App() *App {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.full
}

// Close stops connecting and closes the catalog.
func (s *Starter) Close() error {
	s.cancel()
	s.wg.Wait()
	if a := s.App(); a != nil {
		return a.Close()
	}
	return nil
}

// startRound runs a connection round in the background. s.mu is held.
func (s *Starter) startRound() {
	s.running = true
	s.trying = make(chan struct{}) // the first attempt starts at once
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.connect()
	}()
}

// connect makes up to Attempts attempts to open the catalog. Each attempt
// ends in finish, which publishes its outcome before its trying channel
// closes, so a Wait that sees it closed reads that outcome.
func (s *Starter) connect() {
	delay := s.opt.RetryDelay
	for attempt := 1; attempt <= s.opt.Attempts; attempt++ {
		start := time.Now()
		s.mu.Lock()
		if s.trying == nil {
			s.trying = make(chan struct{})
		}
		trying := s.trying
		s.mu.Unlock()
		cat, err := s.attempt()
		if err == nil {
			full, err := s.base.withCatalog(cat, s.tuning)
			if err != nil {
				s.finish(trying, nil, fmt.Errorf("catalog (%s): %w", config.SettingSQL, err), true)
				s.log.Error("catalog opened but the services could not be built", "err", err)
				return
			}
			s.finish(trying, full, nil, true)
			s.log.Info("catalog connected", "catalog", cat.Dialect(), "attempt", attempt, "ms", time.Since(start).Milliseconds())
			return
		}
		if s.ctx.Err() != nil {
			s.finish(trying, nil, nil, true)
			return
		}
		if attempt == s.opt.Attempts {
			s.finish(trying, nil, fmt.Errorf("catalog (%s) is not reachable (%d attempts; the next request that needs it tries again): %w",
				config.SettingSQL, attempt, err), true)
			s.log.Error("catalog not reachable: giving up this round", "attempts", attempt, "err", err)
			return
		}
		s.finish(trying, nil, fmt.Errorf("catalog (%s) is not reachable yet (attempt %d of %d, retrying): %w",
			config.SettingSQL, attempt, s.opt.Attempts, err), false)
		s.log.Warn("catalog not reachable yet; retrying", "attempt", attempt, "of", s.opt.Attempts,
			"retryIn", delay.String(), "err", err)
		if !s.backOff(&delay) {
			s.mu.Lock()
			s.running = false
			s.mu.Unlock()
			return
		}
	}
}

// finish ends an attempt: its outcome (the App, or why not; neither when
// the Starter closed) and, after a round's last attempt, the end of the
// round are published in one critical section, then trying closes. A Wait
// that reads the outcome therefore also reads that no round runs, and
// starts the next one instead of returning the last round's error for
// ever.
func (s *Starter) finish(trying chan struct{}, full *App, err error, last bool) {
	s.mu.Lock()
	switch {
	case full != nil:
		s.full = full
		close(s.ready)
	case err != nil:
		s.catErr = err
	}
	if s.trying == trying {
		s.trying = nil
	}
	if last {
		s.running = false
	}
	s.mu.Unlock()
	close(trying)
}

// attempt opens the catalog within AttemptTimeout. A driver that does not
// give up when its context ends (a server that accepted the connection and
// never answers) is left behind: whatever it opens late is closed.
func (s *Starter) attempt() (catalog.Catalog, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.opt.AttemptTimeout)
	defer cancel()
	type result struct {
		cat catalog.Catalog
		err error
	}
	res := make(chan result, 1)
	go func() {
		cat, err := s.opt.Open(ctx, s.base.Config.SQL)
		res <- result{cat, err}
	}()
	select {
	case r := <-res:
		return r.cat, r.err
	case <-ctx.Done():
		go func() {
			if r := <-res; r.cat != nil {
				r.cat.Close()
			}
		}()
		return nil, fmt.Errorf("no answer within %s", s.opt.AttemptTimeout)
	}
}

// prepare runs Prepare in rounds until one succeeds: the functions create
// what they need on demand, so this only saves them the round trip and
// tells Health whether storage answers.
func (s *Starter) prepare() {
	defer s.wg.Done()
	delay := s.opt.RetryDelay
	for {
		ctx, cancel := context.WithTimeout(s.ctx, s.opt.PrepareTimeout)
		err := s.base.Prepare(ctx)
		cancel()
		if s.ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		if err == nil {
			s.storeErr = nil
		} else {
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("no answer within %s", s.opt.PrepareTimeout)
			}
			s.storeErr = fmt.Errorf("storage (%s) has not answered: %w", storageSetting(s.base.Config.Storage), err)
		}
		s.mu.Unlock()
		if err == nil {
			s.log.Info("storage prepared: containers and queue exist")
			return
		}
		s.log.Warn("storage not prepared yet; retrying (functions create containers and queues on demand)",
			"retryIn", delay.String(), "err", err)
		if !s.backOff(&delay) {
			return
		}
	}
}

// storageSetting names the setting that says where storage is.
func storageSetting(st config.Storage) string {
	if st.UsesIdentity() {
		return config.SettingBlobServiceURI + ", " + config.SettingQueueServiceURI
	}
	return config.SettingStorage
}

// backOff sleeps *delay, then doubles it up to MaxRetryDelay; false when
// the Starter closes meanwhile.
func (s *Starter) backOff(delay *time.Duration) bool {
	t := time.NewTimer(*delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx.Done():
		return false
	}
	*delay = min(2**delay, s.opt.MaxRetryDelay)
	return true
}
