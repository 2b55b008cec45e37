package retry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestBackoffDelays(t *testing.T) {
	b := Backoff{First: 5 * time.Second, Max: 30 * time.Second}
	var got []time.Duration
	for n := 1; n <= 5; n++ {
		got = append(got, b.Delay(n, 0))
	}
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 30 * time.Second, 30 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delays %v, want %v", got, want)
		}
	}
	if d := b.Delay(1, 0.999); d < 5*time.Second || d > 6250*time.Millisecond {
		t.Fatalf("jitter takes the first delay to %v: want within [5s, 6.25s]", d)
	}
}

// A transient fault is retried until the operation succeeds; throttling
// waits longer than a broken connection.
func TestDoRetriesByClass(t *testing.T) {
	c := newClock()
	throttled := errors.New("throttled")
	classify := func(err error) Fault {
		if err == throttled {
			return Fault{Class: Throttled, Number: 40501, Unsent: true}
		}
		return Network(err)
	}
	r := New(c.policy(classify))
	faults := []error{reset(), throttled, nil}
	calls := 0
	err := r.Do(context.Background(), Repeatable, func(context.Context) error {
		calls++
		return faults[calls-1]
	})
	if err != nil || calls != 3 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	w := c.waits()
	if len(w) != 1 || w[0] != DefaultThrottled.First {
		t.Fatalf("waits %v: want none after the reset (a fresh connection at once), then the throttled first wait", w)
	}
}

// A connection that broke under a request is replaced at once; when that
// fails too the waits begin, and throttling waits longer than a
// connection fault at every step.
func TestDoBackoffAfterReset(t *testing.T) {
	c := newClock()
	r := New(c.policy(Network))
	calls := 0
	err := r.Do(context.Background(), Repeatable, func(context.Context) error {
		calls++
		if calls < 4 {
			return reset()
		}
		return nil
	})
	w := c.waits()
	if err != nil || calls != 4 || len(w) != 2 || w[0] != DefaultConnection.First || w[1] != 2*DefaultConnection.First {
		t.Fatalf("err %v, %d calls, waits %v: want at once, then 5 s, then 10 s", err, calls, w)
	}
	for n := 1; n <= 6; n++ {
		if DefaultThrottled.Delay(n, 0) <= DefaultConnection.Delay(n, 0.999) {
			t.Fatalf("retry %d: throttled waits %v, no longer than a connection fault's %v", n, DefaultThrottled.Delay(n, 0), DefaultConnection.Delay(n, 0.999))
		}
	}
}

func TestDoPermanentAndOnce(t *testing.T) {
	c := newClock()
	r := New(c.policy(Network))
	calls := 0
	bad := errors.New("constraint violated")
	if err := r.Do(context.Background(), Repeatable, func(context.Context) error { calls++; return bad }); err != bad || calls != 1 {
		t.Fatalf("permanent error: %v after %d calls", err, calls)
	}
	// Once: a reset after sending may have applied: not repeated.
	calls = 0
	if err := r.Do(context.Background(), Once, func(context.Context) error { calls++; return reset() }); err == nil || calls != 1 {
		t.Fatalf("once after a reset: %v after %d calls", err, calls)
	}
	// Once: a refused connection ran nothing: repeated.
	calls = 0
	err := r.Do(context.Background(), Once, func(context.Context) error {
		calls++
		if calls == 1 {
			return refused()
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("once after a refused connection: %v after %d calls", err, calls)
	}
}

// The budget ends the retries with an error naming the setting and the
// server (never a secret), and the outage is logged once however many
// operations meet it, then its end once.
func TestDoBudgetAndLogOncePerOutage(t *testing.T) {
	c := newClock()
	var logs bytes.Buffer
	p := c.policy(Network)
	p.Budget = time.Minute
	p.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	r := New(p)
	down := true
	op := func(context.Context) error {
		if down {
			return refused()
		}
		return nil
	}
	err := r.Do(context.Background(), Repeatable, op)
	if !errors.Is(err, ErrExhausted) || !strings.Contains(err.Error(), "SQL_CONNECTION_STRING's server db.example:1433") {
		t.Fatalf("exhausted: %v", err)
	}
	if err := r.Do(context.Background(), Repeatable, func(ctx context.Context) error {
		if len(c.waits()) > 8 {
			down = false
		}
		return op(ctx)
	}); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if n := strings.Count(logs.String(), "transient fault"); n != 1 {
		t.Fatalf("%d fault lines for one outage:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), `"msg":"catalog: recovered"`); n != 1 {
		t.Fatalf("%d recovery lines:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), `"server":"db.example:1433"`) {
		t.Fatalf("the log does not name the server:\n%s", logs.String())
	}
}

// The context's deadline bounds the retries before the budget does.
func TestDoStopsAtDeadline(t *testing.T) {
	c := newClock()
	r := New(c.policy(Network))
	ctx, cancel := context.WithDeadline(context.Background(), c.Now().Add(12*time.Second))
	defer cancel()
	calls := 0
	err := r.Do(ctx, Repeatable, func(context.Context) error { calls++; return refused() })
	if !errors.Is(err, ErrExhausted) || calls != 2 {
		t.Fatalf("%v after %d calls: want exhausted after 2 (5 s, then 10 s would pass the 12 s deadline)", err, calls)
	}
}
