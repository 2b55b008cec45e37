package testenv

import (
	"bytes"
	"context"
	"sync"
)

// SyncBuffer collects a process's output: exec copies into it from its own
// goroutine while the test reads it, so every access holds the lock.
type SyncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // closed by the next Write; nil when nobody waits
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written != nil {
		close(s.written)
		s.written = nil
	}
	return s.b.Write(p)
}

// String is what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Await waits until what was written satisfies ok, checking after each
// Write (no polling), and returns it; when ctx ends first, it returns what
// was written with ctx's error.
func (s *SyncBuffer) Await(ctx context.Context, ok func(string) bool) (string, error) {
	for {
		s.mu.Lock()
		out := s.b.String()
		if s.written == nil {
			s.written = make(chan struct{})
		}
		written := s.written
		s.mu.Unlock()
		if ok(out) {
			return out, nil
		}
		select {
		case <-written:
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
}
