package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Handler handles one message. nil completes it; an error retries it (and
// poisons it after MaxDequeueCount deliveries). Handlers must be idempotent:
// a message can be delivered more than once.
type Handler func(ctx context.Context, m Message) error

// WorkerConfig configures Work. Zero values take the defaults.
type WorkerConfig struct {
	Queue string
	// Workers is how many messages are handled concurrently (4).
	Workers int
	// Visibility is how long a received message stays invisible (5m); the
	// worker extends it every Visibility/2 while the handler runs, so a
	// handler may take longer (a 1 GB payload does).
	Visibility time.Duration
	// MaxDequeueCount is the deliveries after which a failing message goes
	// to Queue+"-poison" (5, host.json's maxDequeueCount).
	MaxDequeueCount int
	// RetryDelay keeps a failed message invisible before its next delivery
	// (0, the host's visibilityTimeout).
	RetryDelay time.Duration
	// PollMin and PollMax bound the back-off while the queue is empty
	// (100ms .. 2s).
	PollMin, PollMax time.Duration
	// StopWhenEmpty (drain mode) returns once the queue holds no message,
	// invisible ones included, and no handler is running.
	StopWhenEmpty bool
	Logger        *slog.Logger
}

// Stats count what Work did.
type Stats struct {
	// Processed: handler succeeded (the message was completed).
	Processed int64
	// Failed: handler returned an error or panicked (each delivery counts).
	Failed int64
	// Poisoned: messages moved to the poison queue.
	Poisoned int64
}

const (
	defaultWorkers         = 4
	defaultVisibility      = 5 * time.Minute
	defaultMaxDequeueCount = 5
	defaultPollMin         = 100 * time.Millisecond
	defaultPollMax         = 2 * time.Second
	// settleTimeout bounds the Complete / Abandon / Poison calls made after
	// the parent context is cancelled (shutdown must still release messages).
	settleTimeout = 30 * time.Second
)

func (cfg *WorkerConfig) defaults() {
	if cfg.Workers <= 0 {
		cfg.Workers = defaultWorkers
	}
	if cfg.Visibility <= 0 {
		cfg.Visibility = defaultVisibility
	}
	if cfg.Visibility < 2*time.Second {
		cfg.Visibility = 2 * time.Second // extended every second at most
	}
	if cfg.MaxDequeueCount <= 0 {
		cfg.MaxDequeueCount = defaultMaxDequeueCount
	}
	if cfg.PollMin <= 0 {
		cfg.PollMin = defaultPollMin
	}
	if cfg.PollMax < cfg.PollMin {
		cfg.PollMax = max(defaultPollMax, cfg.PollMin)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
}

// Work receives messages from cfg.Queue and runs h on each, the way the
// Functions queue trigger does: success completes the message; a failure
// makes it visible again after RetryDelay, or moves it to the poison queue
// once it was delivered MaxDequeueCount times. A message delivered more
// often than that (the process died while handling it) is poisoned without
// running h. Handler panics are failures, never crashes.
//
// When ctx is cancelled Work stops receiving; running handlers see their
// context cancelled, and a handler stopped that way has its message made
// visible again at once. Work returns when every handler is done: nil in
// drain mode once the queue is empty, ctx's error when cancelled, or the
// receive error that stopped a drain.
func (c *Client) Work(ctx context.Context, cfg WorkerConfig, h Handler) (Stats, error) {
	cfg.defaults()
	w := &worker{c: c, cfg: cfg, h: h, log: cfg.Logger.With("queue", cfg.Queue)}
	if err := c.Ensure(ctx, cfg.Queue); err != nil {
		return Stats{}, err
	}
	err := w.run(ctx)
	w.wg.Wait()
	return Stats{Processed: w.processed.Load(), Failed: w.failed.Load(), Poisoned: w.poisoned.Load()}, err
}

type worker struct {
	c   *Client
	cfg WorkerConfig
	h   Handler
	log *slog.Logger

	wg       sync.WaitGroup
	inflight atomic.Int64
	// done wakes the poll loop when a handler finishes, so a freed slot (or
	// an empty queue in drain mode) is noticed without waiting a full poll.
	done chan struct{}

	processed, failed, poisoned atomic.Int64
}

func (w *worker) run(ctx context.Context) error {
	w.done = make(chan struct{}, 1)
	slots := make(chan struct{}, w.cfg.Workers)
	backoff := w.cfg.PollMin
	for {
		// Hold one slot before receiving, so nothing is received that no
		// goroutine can start on at once (it would sit invisible).
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		n := 1
		for n < 32 {
			select {
			case slots <- struct{}{}:
				n++
				continue
			default:
			}
			break
		}
		msgs, err := w.c.Receive(ctx, w.cfg.Queue, n, w.cfg.Visibility)
		for range n - len(msgs) {
			<-slots
		}
		if ctx.Err() != nil {
			// Received but not started: let them be redelivered at once.
			for i := range msgs {
				w.settle(ctx, func(sctx context.Context) error { return w.c.Abandon(sctx, &msgs[i], 0) })
				<-slots
			}
			return ctx.Err()
		}
		if err != nil {
			if w.cfg.StopWhenEmpty {
				return err
			}
			w.log.Warn("receive failed", "error", err)
		}
		if len(msgs) == 0 {
			if w.cfg.StopWhenEmpty && w.inflight.Load() == 0 && err == nil {
				cnt, cerr := w.c.Count(ctx, w.cfg.Queue)
				if cerr != nil && ctx.Err() == nil {
					return cerr
				}
				if cnt == 0 && w.inflight.Load() == 0 {
					return nil
				}
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-w.done:
			case <-time.After(backoff):
				backoff = min(2*backoff, w.cfg.PollMax)
			}
			continue
		}
		backoff = w.cfg.PollMin
		for _, m := range msgs {
			w.inflight.Add(1)
			w.wg.Add(1)
			go func() {
				defer func() {
					w.inflight.Add(-1)
					<-slots
					select {
					case w.done <- struct{}{}:
					default:
					}
					w.wg.Done()
				}()
				w.handle(ctx, m)
			}()
		}
	}
}

// settle runs a Complete / Abandon / Poison with a context that survives
// the parent's cancellation, bounded by settleTimeout.
func (w *worker) settle(ctx context.Context, f func(context.Context) error) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	return f(sctx)
}

func (w *worker) handle(ctx context.Context, m Message) {
	log := w.log.With("messageId", m.ID, "dequeueCount", m.DequeueCount)
	if m.DequeueCount > int64(w.cfg.MaxDequeueCount) {
		log.Error("message delivered more than maxDequeueCount times without an answer: moving it to the poison queue",
			"maxDequeueCount", w.cfg.MaxDequeueCount)
		w.poison(ctx, log, m)
		return
	}

	hctx, cancel := context.WithCancel(ctx)
	// The extender renews held's pop receipt while the handler reads its
	// own copy; m takes the latest receipt once the extender has stopped.
	held := m
	stopExtend := w.extend(hctx, log, &held)
	err := w.call(hctx, m)
	stopExtend()
	cancel()
	m.PopReceipt = held.PopReceipt

	switch {
	case err == nil:
		w.processed.Add(1)
		cerr := w.settle(ctx, func(sctx context.Context) error { return w.c.Complete(sctx, m) })
		switch {
		case errors.Is(cerr, ErrNotFound):
			// A retried delete whose first try was applied: already gone.
		case cerr != nil:
			log.Error("handled, but complete failed: the message will be delivered again", "error", cerr)
		}
	case ctx.Err() != nil:
		// Shut down mid-way: not the message's fault, let another worker
		// take it at once.
		log.Info("handler stopped by shutdown: message released", "error", err)
		if aerr := w.settle(ctx, func(sctx context.Context) error { return w.c.Abandon(sctx, &m, 0) }); aerr != nil {
			log.Warn("release failed: the message reappears after its visibility timeout", "error", aerr)
		}
	default:
		w.failed.Add(1)
		if m.DequeueCount >= int64(w.cfg.MaxDequeueCount) {
			log.Error("handler failed: moving the message to the poison queue", "error", err, "maxDequeueCount", w.cfg.MaxDequeueCount)
			w.poison(ctx, log, m)
			return
		}
		log.Warn("handler failed: the message will be retried", "error", err, "retryDelay", w.cfg.RetryDelay)
		if aerr := w.settle(ctx, func(sctx context.Context) error { return w.c.Abandon(sctx, &m, w.cfg.RetryDelay) }); aerr != nil {
			log.Warn("abandon failed: the message reappears after its visibility timeout", "error", aerr)
		}
	}
}

func (w *worker) poison(ctx context.Context, log *slog.Logger, m Message) {
	if err := w.settle(ctx, func(sctx context.Context) error { return w.c.Poison(sctx, m) }); err != nil {
		log.Error("poison failed: the message will be delivered again", "error", err)
		return
	}
	w.poisoned.Add(1)
}

// call runs the handler, turning a panic into an error.
func (w *worker) call(ctx context.Context, m Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v\n%s", r, debug.Stack())
		}
	}()
	return w.h(ctx, m)
}

// extend keeps m invisible while the handler runs, renewing every
// Visibility/2. The returned func stops it and waits, so m.PopReceipt is
// stable afterwards.
func (w *worker) extend(ctx context.Context, log *slog.Logger, m *Message) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(w.cfg.Visibility / 2)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// Not cancelled by stop: an update the service applied but
				// whose answer we dropped would leave a stale pop receipt,
				// and the message could not be completed.
				err := w.settle(ctx, func(sctx context.Context) error { return w.c.Extend(sctx, m, w.cfg.Visibility) })
				if err != nil {
					log.Warn("extend visibility failed: another worker may receive the message", "error", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}
