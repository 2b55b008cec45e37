// Package inbox is the consumer side of Offload's transactional outbox: the
// rule by which a reader of the Storage Queues applies each event once and
// in order. Its consumer is Hartonomous's Neo4j sync worker, which Service
// Broker used to feed and which now reads the Storage Queue the outbox
// drains to (the queue usp_PublishMessage names, e.g. neo4j-sync); a Go
// worker imports this package, the
// .NET one applies the same rule (docs/MESSAGING.md has it in C#). Offload's
// own end-to-end and chaos tests read the queues through it.
//
// The drain sends each message at least once, in order within its
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
// from the outbox) is applied; de-duplicate it by id.
//
// Ordered is the rule for a worker that keeps its position in its own store
// (Neo4j: the change and the new position in one write transaction); Buffer
// is the rule in memory, for a reader that holds messages until their turn.
package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

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
var ErrNotYet = errors.New("inbox: an earlier event of the conversation has not arrived yet")

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
			return e, fmt.Errorf("inbox: event %q: sequence %q is not a positive decimal number", e.ID, *attrs.Sequence)
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

// Ordered applies outbox events once and in order: it returns the
// function a worker calls with each message's body (decoded from the
// queue's base64). last returns the last sequence applied in a
// conversation; apply must apply the event and record its sequence as the
// conversation's last in one transaction of the consumer's store, so that a
// crash cannot apply without recording. A duplicate returns nil: complete
// the message. An early event returns ErrNotYet: leave the message on the
// queue (do not delete it) and it comes back after its visibility timeout.
func Ordered(last func(ctx context.Context, conversation string) (int64, error), apply func(ctx context.Context, e Event) error) func(ctx context.Context, body []byte) error {
	return func(ctx context.Context, body []byte) error {
		e, err := ParseEvent(body)
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
