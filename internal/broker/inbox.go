package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
)

// The consumer side of the transactional outbox (internal/outbox). The
// drain sends each message at least once, in order within its
// conversation; a re-send after a crash carries the same id and sequence,
// and a queue may hand messages out of order (a failed delivery comes back
// after its visibility timeout). A consumer applies each event once, in
// order, with one rule per conversation, given the last sequence it applied
// there (0 at first):
//
//	sequence <= last      a duplicate: drop it (complete the message)
//	sequence == last + 1  apply it, and record sequence as last with it
//	sequence >  last + 1  an earlier one is still on its way: retry later
//
// Sequences have no gaps (a message that can never be sent fails before it
// gets one), so "retry later" always ends. An event without a sequence (not
// from the outbox) is applied; de-duplicate it by id. docs/MESSAGING.md has
// the same rule in C#.

// Event is what a consumer needs of an outbox message: the CloudEvent
// attributes id, conversation ("" for the queue's default conversation) and
// sequence (0 when absent), and the body as received.
type Event struct {
	ID           string
	Conversation string
	Sequence     int64
	Body         []byte
}

// ErrNotYet: an earlier event of the conversation has not been applied;
// retry the message later.
var ErrNotYet = errors.New("broker: an earlier event of the conversation has not arrived yet")

// ParseEvent reads id, conversation and sequence from a CloudEvent body. A
// body that is not a JSON object has none of them; a sequence that is not a
// decimal number is an error.
func ParseEvent(body []byte) (Event, error) {
	e := Event{Body: body}
	var attrs struct {
		ID           json.RawMessage `json:"id"`
		Conversation *string         `json:"conversation"`
		Sequence     *string         `json:"sequence"`
	}
	if json.Unmarshal(body, &attrs) != nil {
		return e, nil
	}
	if len(attrs.ID) > 0 {
		var s string
		if json.Unmarshal(attrs.ID, &s) == nil {
			e.ID = s
		} else {
			e.ID = string(attrs.ID)
		}
	}
	if attrs.Conversation != nil {
		e.Conversation = *attrs.Conversation
	}
	if attrs.Sequence != nil {
		n, err := strconv.ParseInt(*attrs.Sequence, 10, 64)
		if err != nil || n < 1 {
			return e, fmt.Errorf("broker: event %q: sequence %q is not a positive decimal number", e.ID, *attrs.Sequence)
		}
		e.Sequence = n
	}
	return e, nil
}

// Verdict is the consumer rule's answer for one event.
type Verdict int

const (
	Apply     Verdict = iota // the next one: apply it and record its sequence
	Duplicate                // already applied: drop it
	NotYet                   // an earlier one is missing: retry later
)

func (v Verdict) String() string {
	return [...]string{"apply", "duplicate", "not-yet"}[v]
}

// Next is the consumer rule for an event, given the last sequence applied
// in its conversation.
func Next(last int64, e Event) Verdict {
	switch {
	case e.Sequence == 0:
		return Apply
	case e.Sequence <= last:
		return Duplicate
	case e.Sequence == last+1:
		return Apply
	default:
		return NotYet
	}
}

// Ordered is a Handler (for Work) that applies outbox events once and in
// order. last returns the last sequence applied in a conversation; apply
// must apply the event and record its sequence as the conversation's last
// in one transaction of the consumer's store, so that a crash cannot apply
// without recording. An early event returns ErrNotYet: Work abandons the
// message and it comes back after RetryDelay.
func Ordered(last func(ctx context.Context, conversation string) (int64, error), apply func(ctx context.Context, e Event) error) Handler {
	return func(ctx context.Context, m Message) error {
		e, err := ParseEvent(m.Body)
		if err != nil {
			return err
		}
		n, err := last(ctx, e.Conversation)
		if err != nil {
			return err
		}
		switch Next(n, e) {
		case Duplicate:
			return nil
		case NotYet:
			return fmt.Errorf("%w: event %q is %d, the last applied is %d", ErrNotYet, e.ID, e.Sequence, n)
		}
		return apply(ctx, e)
	}
}

// Inbox applies the rule in memory, for a consumer that keeps its messages
// until it has them in order (and for tests): Offer takes each received
// event and returns those that are now next, in order; duplicates, by
// sequence or by id, are dropped. It is safe for concurrent use.
type Inbox struct {
	mu    sync.Mutex
	convs map[string]*inboxConv
	seen  map[string]bool // ids of events without a sequence
	order []string        // seen, oldest first, for the bound
}

type inboxConv struct {
	last int64
	held map[int64]Event
}

// maxSeen bounds the ids of unsequenced events an Inbox remembers.
const maxSeen = 1 << 16

// NewInbox returns an empty Inbox.
func NewInbox() *Inbox { return &Inbox{convs: map[string]*inboxConv{}, seen: map[string]bool{}} }

func (in *Inbox) conv(name string) *inboxConv {
	c := in.convs[name]
	if c == nil {
		c = &inboxConv{held: map[int64]Event{}}
		in.convs[name] = c
	}
	return c
}

// Resume starts a conversation after last (a consumer's stored position).
func (in *Inbox) Resume(conversation string, last int64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.conv(conversation).last = last
}

// Last is the last sequence delivered in a conversation.
func (in *Inbox) Last(conversation string) int64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.conv(conversation).last
}

// Held is the number of events waiting for an earlier one.
func (in *Inbox) Held() int {
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
func (in *Inbox) Offer(e Event) ([]Event, error) {
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
			return nil, fmt.Errorf("broker: conversation %q: sequence %d arrived as %q and as %q", e.Conversation, e.Sequence, h.ID, e.ID)
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
