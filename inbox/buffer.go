package inbox

import (
	"fmt"
	"sync"
)

// Buffer applies the rule in memory, for a consumer that keeps its messages
// until it has them in order (and for tests): Offer takes each received
// event and returns those that are now next, in order; duplicates, by
// sequence or by id, are dropped. It is safe for concurrent use.
type Buffer struct {
	mu    sync.Mutex
	convs map[string]*conversation
	seen  map[string]bool // ids of events without a sequence
	order []string        // seen, oldest first, for the bound
}

type conversation struct {
	last int64
	held map[int64]Event
}

// maxSeen bounds the ids of unsequenced events a Buffer remembers.
const maxSeen = 1 << 16

// NewBuffer returns an empty Buffer.
func NewBuffer() *Buffer { return &Buffer{convs: map[string]*conversation{}, seen: map[string]bool{}} }

func (in *Buffer) conv(name string) *conversation {
	c := in.convs[name]
	if c == nil {
		c = &conversation{held: map[int64]Event{}}
		in.convs[name] = c
	}
	return c
}

// Resume starts a conversation after last (a consumer's stored position).
func (in *Buffer) Resume(conversation string, last int64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.conv(conversation).last = last
}

// Last is the last sequence delivered in a conversation.
func (in *Buffer) Last(conversation string) int64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.conv(conversation).last
}

// Held is the number of events waiting for an earlier one.
func (in *Buffer) Held() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, c := range in.convs {
		n += len(c.held)
	}
	return n
}

// Offer takes one event and returns the events now deliverable, in order:
// none (a duplicate, or early), the event, or the event and those it was
// holding up. Two different ids with one sequence in one conversation are
// an error: the stream is not an outbox's.
func (in *Buffer) Offer(e Event) ([]Event, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if e.Sequence == 0 {
		if e.ID != "" {
			if in.seen[e.ID] {
				return nil, nil
			}
			in.seen[e.ID] = true
			in.order = append(in.order, e.ID)
			if len(in.order) > maxSeen {
				delete(in.seen, in.order[0])
				in.order = in.order[1:]
			}
		}
		return []Event{e}, nil
	}
	c := in.conv(e.Conversation)
	if h, ok := c.held[e.Sequence]; ok {
		if h.ID != e.ID {
			return nil, fmt.Errorf("inbox: conversation %q: sequence %d arrived as %q and as %q", e.Conversation, e.Sequence, h.ID, e.ID)
		}
		return nil, nil
	}
	switch Next(c.last, e) {
	case Duplicate:
		return nil, nil
	case NotYet:
		c.held[e.Sequence] = e
		return nil, nil
	}
	ready := []Event{e}
	c.last = e.Sequence
	for {
		next, ok := c.held[c.last+1]
		if !ok {
			return ready, nil
		}
		delete(c.held, next.Sequence)
		ready = append(ready, next)
		c.last = next.Sequence
	}
}
