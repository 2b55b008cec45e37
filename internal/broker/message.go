package broker

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
)

// MaxVisibility is the service's limit for a visibility timeout or delay.
const MaxVisibility = 7 * 24 * time.Hour

// neverExpire is the time-to-live of every message we publish: a pending
// migration must not vanish after the default 7 days.
const neverExpire = int32(-1)

// seconds rounds d up to whole seconds within [min, MaxVisibility].
func seconds(d time.Duration, min int32) *int32 {
	if d > MaxVisibility {
		d = MaxVisibility
	}
	s := int32(math.Ceil(d.Seconds()))
	if s < min {
		s = min
	}
	return to.Ptr(s)
}

// Publish puts body on the queue, base64-encoded (what the Functions queue
// trigger and .NET's QueueClient expect), invisible for delay, with no
// expiry. ErrTooLarge when the encoded text exceeds MaxMessageBytes.
func (c *Client) Publish(ctx context.Context, queue string, body []byte, delay time.Duration) (string, error) {
	return c.publishText(ctx, queue, base64.StdEncoding.EncodeToString(body), delay)
}

func (c *Client) publishText(ctx context.Context, queue, text string, delay time.Duration) (string, error) {
	if len(text) > MaxMessageBytes {
		return "", fmt.Errorf("broker: publish to %s: %w: %d bytes encoded, the limit is %d", queue, ErrTooLarge, len(text), MaxMessageBytes)
	}
	resp, err := c.queue(queue).EnqueueMessage(ctx, text, &azqueue.EnqueueMessageOptions{
		TimeToLive:        to.Ptr(neverExpire),
		VisibilityTimeout: seconds(delay, 0),
	})
	if err != nil {
		return "", fmt.Errorf("broker: publish to %s: %w", queue, normalize(err))
	}
	if len(resp.Messages) == 0 || resp.Messages[0] == nil || resp.Messages[0].MessageID == nil {
		return "", nil
	}
	return *resp.Messages[0].MessageID, nil
}

// decode returns the body of a message text: base64-decoded when it is
// base64, otherwise the text itself (messages written by tools that send
// plain text).
func decode(text string) []byte {
	if b, err := base64.StdEncoding.DecodeString(text); err == nil {
		return b
	}
	return []byte(text)
}

// Receive takes up to n messages (1..32), invisible to others for
// visibility (at least one second).
func (c *Client) Receive(ctx context.Context, queue string, n int, visibility time.Duration) ([]Message, error) {
	n = min(max(n, 1), 32)
	resp, err := c.queue(queue).DequeueMessages(ctx, &azqueue.DequeueMessagesOptions{
		NumberOfMessages:  to.Ptr(int32(n)),
		VisibilityTimeout: seconds(visibility, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("broker: receive from %s: %w", queue, normalize(err))
	}
	out := make([]Message, 0, len(resp.Messages))
	for _, m := range resp.Messages {
		if m == nil {
			continue
		}
		msg := newMessage(queue, m.MessageID, m.MessageText, m.DequeueCount, m.InsertionTime)
		msg.PopReceipt = deref(m.PopReceipt)
		out = append(out, msg)
	}
	return out, nil
}

// newMessage is a received or peeked message (the SDK has a type for each).
func newMessage(queue string, id, text *string, dequeueCount *int64, inserted *time.Time) Message {
	return Message{
		ID:           deref(id),
		DequeueCount: deref(dequeueCount),
		InsertedAt:   deref(inserted),
		Body:         decode(deref(text)),
		Queue:        queue,
		Text:         deref(text),
	}
}

// Peek returns up to n (1..32) visible messages without receiving them:
// no pop receipt, the dequeue count unchanged.
func (c *Client) Peek(ctx context.Context, queue string, n int) ([]Message, error) {
	n = min(max(n, 1), 32)
	resp, err := c.queue(queue).PeekMessages(ctx, &azqueue.PeekMessagesOptions{NumberOfMessages: to.Ptr(int32(n))})
	if err != nil {
		return nil, fmt.Errorf("broker: peek %s: %w", queue, normalize(err))
	}
	out := make([]Message, 0, len(resp.Messages))
	for _, m := range resp.Messages {
		if m != nil {
			out = append(out, newMessage(queue, m.MessageID, m.MessageText, m.DequeueCount, m.InsertionTime))
		}
	}
	return out, nil
}

// Complete deletes a handled message. ErrNotFound when it is already gone
// or its pop receipt is stale (it was received again after its visibility
// timeout ran out).
func (c *Client) Complete(ctx context.Context, m Message) error {
	if _, err := c.queue(m.Queue).DeleteMessage(ctx, m.ID, m.PopReceipt, nil); err != nil {
		return fmt.Errorf("broker: complete %s/%s: %w", m.Queue, m.ID, normalize(err))
	}
	return nil
}

// Abandon makes the message visible again after delay (0: at once), for a
// later retry. m.PopReceipt is updated.
func (c *Client) Abandon(ctx context.Context, m *Message, delay time.Duration) error {
	if err := c.update(ctx, m, delay); err != nil {
		return fmt.Errorf("broker: abandon %s/%s: %w", m.Queue, m.ID, err)
	}
	return nil
}

// Extend keeps the message invisible for visibility from now, while it is
// still being handled. m.PopReceipt is updated.
func (c *Client) Extend(ctx context.Context, m *Message, visibility time.Duration) error {
	if err := c.update(ctx, m, visibility); err != nil {
		return fmt.Errorf("broker: extend %s/%s: %w", m.Queue, m.ID, err)
	}
	return nil
}

func (c *Client) update(ctx context.Context, m *Message, visibility time.Duration) error {
	// Update Message replaces the text: send the stored one back unchanged.
	resp, err := c.queue(m.Queue).UpdateMessage(ctx, m.ID, m.PopReceipt, m.text(), &azqueue.UpdateMessageOptions{
		VisibilityTimeout: seconds(visibility, 0),
	})
	if err != nil {
		return normalize(err)
	}
	if resp.PopReceipt != nil {
		m.PopReceipt = *resp.PopReceipt
	}
	return nil
}

func (m *Message) text() string {
	if m.Text != "" || len(m.Body) == 0 {
		return m.Text
	}
	return base64.StdEncoding.EncodeToString(m.Body)
}

// PoisonQueue is the queue failed messages of queue are moved to, as the
// Functions host names it.
func PoisonQueue(queue string) string { return queue + "-poison" }

// Poison moves the message to its queue's poison queue: the copy is written
// first and the original deleted only then, so a failure in between leaves
// a duplicate, never a loss. The text moves unchanged.
func (c *Client) Poison(ctx context.Context, m Message) error {
	pq := PoisonQueue(m.Queue)
	if err := c.Ensure(ctx, pq); err != nil {
		return fmt.Errorf("broker: poison %s/%s: %w", m.Queue, m.ID, err)
	}
	if _, err := c.publishText(ctx, pq, m.text(), 0); err != nil {
		return fmt.Errorf("broker: poison %s/%s: %w", m.Queue, m.ID, err)
	}
	if err := c.Complete(ctx, m); err != nil {
		return fmt.Errorf("broker: poison %s/%s: copied to %s, but: %w", m.Queue, m.ID, pq, err)
	}
	return nil
}

// Count is the approximate number of messages in the queue, invisible ones
// included.
func (c *Client) Count(ctx context.Context, queue string) (int64, error) {
	resp, err := c.queue(queue).GetProperties(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("broker: count %s: %w", queue, normalize(err))
	}
	return int64(deref(resp.ApproximateMessagesCount)), nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
