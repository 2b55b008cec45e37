package retry

import (
	"context"
	"net"
	"sync"
	"syscall"
	"time"
)

// fakeClock is the retries' clock and sleeper: a Sleep moves the clock, and
// no test waits on the wall clock.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

// newClock starts at the wall clock, so that a context deadline means the
// same on both; it then moves only when slept on.
func newClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.slept = append(c.slept, d)
	return ctx.Err()
}

func (c *fakeClock) waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// policy is a Policy on c with no jitter.
func (c *fakeClock) policy(classify Classifier) Policy {
	return Policy{Classify: classify, Server: "db.example:1433", Now: c.Now, Sleep: c.Sleep, Rand: func() float64 { return 0 }}
}

// reset is what a connection cut after the request was sent returns.
func reset() error { return &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET} }

// refused is what a dial to a server that is down returns.
func refused() error { return &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED} }
