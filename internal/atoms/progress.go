package atoms

import (
	"io"
	"sync"
	"time"
)

// progressEvery bounds how often Config.Progress is called while bytes flow.
const progressEvery = 250 * time.Millisecond

// tracker accumulates an upload's progress and throttles the callback.
type tracker struct {
	fn  func(Progress)
	now func() time.Time

	mu   sync.Mutex
	p    Progress
	last time.Time
}

func newTracker(fn func(Progress), now func() time.Time) *tracker {
	return &tracker{fn: fn, now: now, p: Progress{Started: now()}}
}

// start sets the totals and reports them (the first call a bar sees).
func (t *tracker) start(files int, bytes int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.Files, t.p.Bytes = files, bytes
	t.emit(true)
}

// read counts bytes read from a file.
func (t *tracker) read(n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.BytesDone += n
	t.emit(false)
}

// fileDone counts a finished file. unread are the bytes of it that were
// planned but not read (skipped, failed early): they leave the total.
func (t *tracker) fileDone(unread int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.FilesDone++
	t.p.Bytes -= unread
	t.emit(false)
}

// finish reports the final state.
func (t *tracker) finish() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.emit(true)
}

func (t *tracker) emit(force bool) {
	if t.fn == nil {
		return
	}
	now := t.now()
	if !force && now.Sub(t.last) < progressEvery {
		return
	}
	t.last = now
	t.fn(t.p)
}

// countingReader counts what it read and reports every read to the
// tracker, when there is one.
type countingReader struct {
	r io.Reader
	t *tracker
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n += int64(n)
		if c.t != nil {
			c.t.read(int64(n))
		}
	}
	return n, err
}
