// Package retry is the catalog's answer to the transient faults of Azure
// SQL Database, SQL Server and SQLite: one policy for both dialects, applied
// per catalog operation by a Catalog that wraps a dialect (catalog.go).
//
// What is retried, and how long to wait, follows Microsoft's guidance:
// sql-docs azure-sql/database/troubleshoot-common-errors-issues.md
// ("Implement retry logic": wait about 5 seconds before the first retry, grow
// the delay exponentially up to 60 seconds; "List of transient fault error
// codes"; "Table of resource governance error messages") and
// troubleshoot-common-connectivity-issues.md (retry on a new connection; a
// statement whose connection dropped may or may not have run). The dialects
// classify their own errors (mssql.Classify, sqlite.Classify); this package
// holds what is common: the classes, the back-off, the budget, the log.
package retry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Class is what kind of fault an error is, which decides whether and how
// long to wait before trying again.
type Class int

const (
	// Permanent faults are returned at once: bad input, a conflict, a
	// missing row, a constraint, a permission.
	Permanent Class = iota
	// Connection: the connection broke or could not be made, or the
	// database is moving (40613, 40197, 4060, 10053/10054 resets, refused
	// connections). Retried on a fresh connection.
	Connection
	// Throttled: the resource governor refused the work (40501, 10928,
	// 10929, 49918-49920). Retried after a longer wait: more requests now
	// only add to the load that caused it.
	Throttled
	// Busy: SQLite's database file is locked by another connection
	// (SQLITE_BUSY, SQLITE_LOCKED) beyond its busy_timeout.
	Busy
)

func (c Class) String() string {
	switch c {
	case Connection:
		return "connection"
	case Throttled:
		return "throttled"
	case Busy:
		return "busy"
	}
	return "permanent"
}

// Fault is a classified error.
type Fault struct {
	Class Class
	// Number is the server's error number (40613, 40501, SQLITE_BUSY…), 0
	// for a network failure.
	Number int
	// Unsent is true when the server cannot have applied the statement:
	// the connection was refused or failed before login, or the server
	// answered it with an error. A reset after the request was sent is
	// not Unsent: the answer may be all that was lost.
	Unsent bool
}

// Classifier classifies an error of one dialect.
type Classifier func(error) Fault

// Kind is what an operation allows.
type Kind int

const (
	// Repeatable operations are retried after any transient fault: reads,
	// and state changes that are compare-and-set, so that running them
	// again after a lost answer finds the state they set and reports
	// success (the dialects recognise their own applied change).
	Repeatable Kind = iota
	// Once operations (an insert, an attempt counter) are retried only
	// after a fault that proves they did not run (Fault.Unsent).
	Once
)

// Backoff is an exponential back-off: First, then ×2 up to Max, each wait
// stretched by a random 0-25% so that many workers that failed together do
// not come back together. Stretching up, not down, keeps Microsoft's
// "no sooner than 5 seconds" for the first retry.
type Backoff struct{ First, Max time.Duration }

// Delay is the wait before retry n (1-based), for a random r in [0, 1).
func (b Backoff) Delay(n int, r float64) time.Duration {
	d := b.First
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	return d + time.Duration(float64(d)/4*r)
}

// Default waits (docs/RETRIES.md explains each).
var (
	// DefaultConnection: Microsoft's 5 s first retry; capped at 10 s (not
	// 60) so a worker notices a database that came back within 10-12.5 s.
	DefaultConnection = Backoff{First: 5 * time.Second, Max: 10 * time.Second}
	// DefaultThrottled: 40501's own text says "retry the request after 10
	// seconds"; up to Microsoft's 60 s.
	DefaultThrottled = Backoff{First: 10 * time.Second, Max: 60 * time.Second}
	// DefaultBusy: a SQLite lock is held for one write transaction, a few
	// milliseconds; busy_timeout already waited.
	DefaultBusy = Backoff{First: 10 * time.Millisecond, Max: time.Second}
)

// DefaultBudget bounds an operation's retries when its context has no
// deadline of its own (a command without --retry-budget).
const DefaultBudget = 3 * time.Minute

// Policy is the retry policy of one catalog. The zero value of every field
// takes its default.
type Policy struct {
	Classify Classifier
	// Server names the database in logs and errors, never with a secret
	// (mssql.ServerName, the SQLite path).
	Server string
	// Setting is the setting that names the database (SQL_CONNECTION_STRING).
	Setting string
	// Budget bounds how long one operation keeps retrying, counted from
	// its first attempt; the context's deadline bounds it too.
	Budget time.Duration
	// Connection, Throttled, Busy are the waits of each class.
	Connection, Throttled, Busy Backoff
	Logger                      *slog.Logger
	// Now, Sleep and Rand are the clock, the wait and the jitter (tests
	// inject them: no test waits on the wall clock).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	Rand  func() float64
}

func (p *Policy) defaults() {
	if p.Classify == nil {
		p.Classify = Network
	}
	if p.Setting == "" {
		p.Setting = "SQL_CONNECTION_STRING"
	}
	if p.Budget <= 0 {
		p.Budget = DefaultBudget
	}
	if p.Connection.First <= 0 {
		p.Connection = DefaultConnection
	}
	if p.Throttled.First <= 0 {
		p.Throttled = DefaultThrottled
	}
	if p.Busy.First <= 0 {
		p.Busy = DefaultBusy
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Sleep == nil {
		p.Sleep = SleepContext
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
}

// SleepContext waits d or until ctx ends.
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Retrier runs operations under a Policy. It is safe for concurrent use;
// the outage it tracks is shared by every operation, so an outage is
// logged once, however many workers meet it.
type Retrier struct {
	p Policy

	mu      sync.Mutex
	since   time.Time // first failure of the current outage; zero: none
	retries int       // retries during it
}

// New returns a Retrier for p.
func New(p Policy) *Retrier {
	p.defaults()
	return &Retrier{p: p}
}

// Policy is r's policy with its defaults.
func (r *Retrier) Policy() Policy { return r.p }

// ErrExhausted is wrapped by the error of an operation that ran out of
// budget or deadline while the fault lasted.
var ErrExhausted = errors.New("retry budget exhausted")

// Do runs op until it succeeds, fails permanently, or the budget or ctx
// ends. op gets a fresh attempt each time (the dialects take a new or
// revalidated connection from their pool: a broken one is discarded).
func (r *Retrier) Do(ctx context.Context, kind Kind, op func(context.Context) error) error {
	start := r.p.Now()
	deadline := start.Add(r.p.Budget)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	waits := 0
	for n := 1; ; n++ {
		err := op(ctx)
		if err == nil {
			r.recovered(n)
			return nil
		}
		f := r.p.Classify(err)
		if f.Class == Permanent || (kind == Once && !f.Unsent) || ctx.Err() != nil {
			return err
		}
		r.failed(f, err)
		if n == 1 && f.Class == Connection && !f.Unsent {
			// A connection that broke under a request (a reset, a cut
			// reply) is replaced at once: the pool dials a fresh one.
			// When the server is really gone, that try fails to connect
			// and the waits begin.
			continue
		}
		waits++
		wait := r.backoff(f.Class).Delay(waits, r.p.Rand())
		if r.p.Now().Add(wait).After(deadline) {
			return r.exhausted(start, n, f, err)
		}
		if serr := r.p.Sleep(ctx, wait); serr != nil {
			if errors.Is(serr, context.DeadlineExceeded) {
				return r.exhausted(start, n, f, err)
			}
			return err
		}
	}
}

func (r *Retrier) backoff(c Class) Backoff {
	switch c {
	case Throttled:
		return r.p.Throttled
	case Busy:
		return r.p.Busy
	}
	return r.p.Connection
}

// failed notes a retry, and logs the first of an outage.
func (r *Retrier) failed(f Fault, err error) {
	r.mu.Lock()
	first := r.since.IsZero()
	if first {
		r.since = r.p.Now()
	}
	r.retries++
	r.mu.Unlock()
	if first {
		r.p.Logger.Warn("catalog: transient fault, retrying with back-off",
			"server", r.p.Server, "class", f.Class.String(), "number", f.Number, "error", err.Error())
	}
}

// recovered ends the outage when an operation succeeds after one.
func (r *Retrier) recovered(attempts int) {
	r.mu.Lock()
	if r.since.IsZero() {
		r.mu.Unlock()
		return
	}
	since, retries := r.since, r.retries
	r.since, r.retries = time.Time{}, 0
	r.mu.Unlock()
	r.p.Logger.Info("catalog: recovered", "server", r.p.Server,
		"outage", r.p.Now().Sub(since).Round(time.Millisecond).String(), "retries", retries, "attempts", attempts)
}

func (r *Retrier) exhausted(start time.Time, n int, f Fault, err error) error {
	return fmt.Errorf("catalog: %s's server %s still failing after %s and %d attempts (%s fault, number %d): %w: %w",
		r.p.Setting, r.p.Server, r.p.Now().Sub(start).Round(time.Millisecond), n, f.Class, f.Number, ErrExhausted, err)
}
