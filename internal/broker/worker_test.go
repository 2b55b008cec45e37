package broker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// syncBuffer is a log sink shared by the worker goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func work(t *testing.T, c *Client, cfg WorkerConfig, h Handler) Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg.StopWhenEmpty = true
	if cfg.PollMax == 0 {
		cfg.PollMax = 200 * time.Millisecond
	}
	st, err := c.Work(ctx, cfg, h)
	if err != nil {
		t.Fatalf("Work: %v (stats %+v)", err, st)
	}
	return st
}

func TestWorkDrainsWithSeveralWorkers(t *testing.T) {
	t.Parallel()
	c, q := setup(t)
	ctx := context.Background()
	const n = 20
	for i := range n {
		if _, err := c.Publish(ctx, q, fmt.Appendf(nil, `{"segmentId":%d}`, i), 0); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu     sync.Mutex
		seen   = map[string]int{}
		active atomic.Int64
		both   = make(chan struct{})
		once   sync.Once
	)
	st := work(t, c, WorkerConfig{Queue: q, Workers: 4}, func(ctx context.Context, m Message) error {
		// The first two handlers wait for each other: this only finishes if
		// messages really run concurrently.
		if active.Add(1) == 2 {
			once.Do(func() { close(both) })
		}
		select {
		case <-both:
		case <-time.After(20 * time.Second):
			return errors.New("no second handler ran concurrently")
		}
		mu.Lock()
		seen[string(m.Body)]++
		mu.Unlock()
		return nil
	})
	if st.Processed != n || st.Failed != 0 || st.Poisoned != 0 {
		t.Fatalf("stats %+v", st)
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages handled, want %d", len(seen), n)
	}
	for body, k := range seen {
		if k != 1 {
			t.Fatalf("%s handled %d times", body, k)
		}
	}
	if cnt := count(t, c, q); cnt != 0 {
		t.Fatalf("%d messages left", cnt)
	}
}

func TestWorkPoisonsAfterMaxDequeueCount(t *testing.T) {
	t.Parallel()
	c, q := setup(t)
	ctx := context.Background()
	id, err := c.Publish(ctx, q, []byte(`{"segmentId":-1}`), 0)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	var (
		mu    sync.Mutex
		calls []int64
	)
	st := work(t, c, WorkerConfig{Queue: q, Workers: 2, MaxDequeueCount: 3,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		func(ctx context.Context, m Message) error {
			mu.Lock()
			calls = append(calls, m.DequeueCount)
			mu.Unlock()
			if m.DequeueCount == 2 {
				panic("handler bug") // a panic is a failure, not a crash
			}
			return errors.New("segment -1 does not exist")
		})
	if fmt.Sprint(calls) != "[1 2 3]" {
		t.Fatalf("handler saw dequeue counts %v, want [1 2 3]", calls)
	}
	if st.Failed != 3 || st.Poisoned != 1 || st.Processed != 0 {
		t.Fatalf("stats %+v", st)
	}
	if n := count(t, c, q); n != 0 {
		t.Fatalf("%d left in the queue", n)
	}
	p, err := c.Peek(ctx, PoisonQueue(q), 5)
	if err != nil || len(p) != 1 || string(p[0].Body) != `{"segmentId":-1}` {
		t.Fatalf("poison queue: %+v %v", p, err)
	}
	out := logs.String()
	for _, want := range []string{"queue=" + q, "messageId=" + id, "dequeueCount=3", "segment -1 does not exist", "handler panic: handler bug"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// A message the worker never answered (the process died) is poisoned once
// its dequeue count passes the limit, without running the handler again.
func TestWorkPoisonsOverDeliveredWithoutHandler(t *testing.T) {
	t.Parallel()
	c, q := setup(t)
	ctx := context.Background()
	if _, err := c.Publish(ctx, q, []byte("crashy"), 0); err != nil {
		t.Fatal(err)
	}
	for range 2 { // two deliveries that ended in a crash
		msgs, err := c.Receive(ctx, q, 1, time.Minute)
		if err != nil || len(msgs) != 1 {
			t.Fatal(err)
		}
		if err := c.Abandon(ctx, &msgs[0], 0); err != nil {
			t.Fatal(err)
		}
	}
	var called atomic.Int64
	st := work(t, c, WorkerConfig{Queue: q, MaxDequeueCount: 2}, func(context.Context, Message) error {
		called.Add(1)
		return nil
	})
	if called.Load() != 0 || st.Poisoned != 1 || st.Processed != 0 || st.Failed != 0 {
		t.Fatalf("handler called %d times, stats %+v", called.Load(), st)
	}
	if p, _ := c.Peek(ctx, PoisonQueue(q), 1); len(p) != 1 || string(p[0].Body) != "crashy" {
		t.Fatalf("poison queue: %+v", p)
	}
}

func TestWorkRetriesThenSucceeds(t *testing.T) {
	t.Parallel()
	c, q := setup(t)
	ctx := context.Background()
	if _, err := c.Publish(ctx, q, []byte("flaky"), 0); err != nil {
		t.Fatal(err)
	}
	st := work(t, c, WorkerConfig{Queue: q}, func(ctx context.Context, m Message) error {
		if m.DequeueCount < 3 {
			return errors.New("transient")
		}
		return nil
	})
	if st.Processed != 1 || st.Failed != 2 || st.Poisoned != 0 {
		t.Fatalf("stats %+v", st)
	}
	if n, err := c.Count(ctx, PoisonQueue(q)); n != 0 || (err != nil && !errors.Is(err, ErrNotFound)) {
		t.Fatalf("%d poisoned (%v)", n, err)
	}
}

// Cancelling Work (SIGTERM) stops the handlers through their context and
// releases their messages at once.
func TestWorkCancelReleasesMessage(t *testing.T) {
	t.Parallel()
	c, q := setup(t)
	if _, err := c.Publish(context.Background(), q, []byte("long job"), 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	go func() { <-started; cancel() }()
	st, err := c.Work(ctx, WorkerConfig{Queue: q, Visibility: time.Hour}, func(hctx context.Context, m Message) error {
		close(started)
		<-hctx.Done()
		return hctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Work returned %v, want context.Canceled", err)
	}
	if st.Failed != 0 || st.Processed != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Visible again right away, though it was received for an hour.
	msgs, err := c.Receive(context.Background(), q, 1, time.Minute)
	if err != nil || len(msgs) != 1 || msgs[0].DequeueCount != 2 {
		t.Fatalf("after shutdown: %+v %v", msgs, err)
	}
}

// A handler that runs longer than the visibility timeout keeps its message:
// nobody else receives it meanwhile.
func TestWorkExtendsVisibility(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits out a visibility timeout")
	}
	c, q := setup(t)
	if _, err := c.Publish(context.Background(), q, []byte("1 GB payload"), 0); err != nil {
		t.Fatal(err)
	}
	var deliveries atomic.Int64
	st := work(t, c, WorkerConfig{Queue: q, Workers: 2, Visibility: 3 * time.Second, PollMax: 100 * time.Millisecond},
		func(ctx context.Context, m Message) error {
			if deliveries.Add(1) == 1 {
				time.Sleep(5 * time.Second) // past the 3s visibility
			}
			return nil
		})
	if d := deliveries.Load(); d != 1 || st.Processed != 1 {
		t.Fatalf("delivered %d times (stats %+v): visibility was not extended", d, st)
	}
}
