package broker

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/hartonomous/offload/internal/config"
)

func TestPublishReceiveComplete(t *testing.T) {
	t.Parallel()
	c, q := setup(t)
	ctx := context.Background()
	body := []byte(`{"segmentId":123}`)
	id, err := c.Publish(ctx, q, body, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, c, q); n != 1 {
		t.Fatalf("count %d", n)
	}
	peek, err := c.Peek(ctx, q, 5)
	if err != nil || len(peek) != 1 || !bytes.Equal(peek[0].Body, body) || peek[0].DequeueCount != 0 {
		t.Fatalf("peek %+v %v", peek, err)
	}
	msgs, err := c.Receive(ctx, q, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.ID != id || !bytes.Equal(m.Body, body) || m.DequeueCount != 1 || m.Queue != q || m.PopReceipt == "" || m.InsertedAt.IsZero() {
		t.Fatalf("message %+v", m)
	}
	// Invisible while held, but still counted.
	if again, _ := c.Receive(ctx, q, 10, time.Minute); len(again) != 0 {
		t.Fatal("a received message was delivered twice")
	}
	if n := count(t, c, q); n != 1 {
		t.Fatalf("count %d with one invisible message", n)
	}
	if err := c.Complete(ctx, m); err != nil {
		t.Fatal(err)
	}
	if n := count(t, c, q); n != 0 {
		t.Fatalf("count %d after complete", n)
	}
	if err := c.Complete(ctx, m); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second complete: %v, want ErrNotFound", err)
	}
}

func TestBase64OnTheWire(t *testing.T) {
	t.Parallel()
	c, q := setup(t)
	ctx := context.Background()
	body := []byte("{\"segmentId\":1}\x00\xff")
	if _, err := c.Publish(ctx, q, body, 0); err != nil {
		t.Fatal(err)
	}
	resp, err := raw(t, q).DequeueMessage(ctx, nil)
	if err != nil || len(resp.Messages) != 1 {
		t.Fatalf("%v %d", err, len(resp.Messages))
	}
	m := resp.Messages[0]
	if *m.MessageText != base64.StdEncoding.EncodeToString(body) {
		t.Fatalf("stored text %q is not the base64 of the body", *m.MessageText)
	}
	// Published messages never expire (the service reports 9999-12-31).
	if m.ExpirationTime.Before(time.Now().AddDate(100, 0, 0)) {
		t.Fatalf("message expires at %v", m.ExpirationTime)
	}
}

func TestRawTextMessage(t *testing.T) {
	t.Parallel()
	c, q := setup(t)
	ctx := context.Background()
	text := `{"segmentId":42}` // as another tool writes it: plain JSON, not base64
	if _, err := raw(t, q).EnqueueMessage(ctx, text, nil); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Receive(ctx, q, 1, time.Minute)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%v %d", err, len(msgs))
	}
	m := msgs[0]
	if string(m.Body) != text {
		t.Fatalf("body %q, want the raw text", m.Body)
	}
	// Abandon sends the text back unchanged.
	if err := c.Abandon(ctx, &m, 0); err != nil {
		t.Fatal(err)
	}
	peek, err := raw(t, q).PeekMessage(ctx, nil)
	if err != nil || len(peek.Messages) != 1 || *peek.Messages[0].MessageText != text {
		t.Fatalf("after abandon the stored text is %v (%v)", peek.Messages, err)
	}
	// Poison moves it as is.
	msgs, _ = c.Receive(ctx, q, 1, time.Minute)
	if err := c.Poison(ctx, msgs[0]); err != nil {
		t.Fatal(err)
	}
	peek, err = raw(t, PoisonQueue(q)).PeekMessage(ctx, nil)
	if err != nil || len(peek.Messages) != 1 || *peek.Messages[0].MessageText != text {
		t.Fatalf("poison queue holds %v (%v)", peek.Messages, err)
	}
	if n := count(t, c, q); n != 0 {
		t.Fatalf("original still there (%d)", n)
	}
}

func TestAbandonRedelivers(t *testing.T) {
	t.Parallel()
	c, q := setup(t)
	ctx := context.Background()
	if _, err := c.Publish(ctx, q, []byte("work"), 0); err != nil {
		t.Fatal(err)
	}
	msgs, _ := c.Receive(ctx, q, 1, time.Hour)
	first := msgs[0]
	m := first
	if err := c.Abandon(ctx, &m, 0); err != nil {
		t.Fatal(err)
	}
	if m.PopReceipt == first.PopReceipt {
		t.Fatal("pop receipt not updated")
	}
	msgs, err := c.Receive(ctx, q, 1, time.Hour)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("not redelivered at once: %v %d", err, len(msgs))
	}
	if msgs[0].ID != first.ID || msgs[0].DequeueCount != 2 || string(msgs[0].Body) != "work" {
		t.Fatalf("redelivered %+v", msgs[0])
	}
	if err := c.Complete(ctx, first); !errors.Is(err, ErrNotFound) {
		t.Fatalf("complete with a stale pop receipt: %v", err)
	}
	if err := c.Complete(ctx, msgs[0]); err != nil {
		t.Fatal(err)
	}
}

func TestAbandonWithDelay(t *testing.T) {
	t.Parallel()
	c, q := setup(t)
	ctx := context.Background()
	if _, err := c.Publish(ctx, q, []byte("later"), 0); err != nil {
		t.Fatal(err)
	}
	msgs, _ := c.Receive(ctx, q, 1, time.Second)
	if err := c.Abandon(ctx, &msgs[0], time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Receive(ctx, q, 1, time.Minute); len(got) != 0 {
		t.Fatal("abandoned with a delay, yet visible")
	}
	if n := count(t, c, q); n != 1 {
		t.Fatalf("count %d", n)
	}
}

func TestExtend(t *testing.T) {
	t.Parallel()
	c, q := setup(t)
	ctx := context.Background()
	if _, err := c.Publish(ctx, q, []byte("long"), 0); err != nil {
		t.Fatal(err)
	}
	msgs, _ := c.Receive(ctx, q, 1, time.Minute)
	m := msgs[0]
	old := m
	if err := c.Extend(ctx, &m, time.Hour); err != nil {
		t.Fatal(err)
	}
	if m.PopReceipt == old.PopReceipt {
		t.Fatal("pop receipt not updated")
	}
	if err := c.Extend(ctx, &old, time.Hour); !errors.Is(err, ErrNotFound) {
		t.Fatalf("extend with a stale pop receipt: %v", err)
	}
	if got, _ := c.Receive(ctx, q, 1, time.Minute); len(got) != 0 {
		t.Fatal("extended message is visible")
	}
	if err := c.Complete(ctx, m); err != nil {
		t.Fatal(err)
	}
}

func TestPublishDelay(t *testing.T) {
	t.Parallel()
	c, q := setup(t)
	ctx := context.Background()
	if _, err := c.Publish(ctx, q, []byte("x"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Receive(ctx, q, 1, time.Minute); len(got) != 0 {
		t.Fatal("delayed message delivered at once")
	}
	if n := count(t, c, q); n != 1 {
		t.Fatalf("count %d", n)
	}
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	c, q := setup(t)
	ctx := context.Background()
	limit := MaxMessageBytes / 4 * 3 // encodes to exactly MaxMessageBytes
	if _, err := c.Publish(ctx, q, bytes.Repeat([]byte{'a'}, limit+1), 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v, want ErrTooLarge", err)
	}
	if _, err := c.Publish(ctx, q, bytes.Repeat([]byte{'a'}, limit), 0); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	msgs, err := c.Receive(ctx, q, 1, time.Minute)
	if err != nil || len(msgs) != 1 || len(msgs[0].Body) != limit {
		t.Fatalf("%v %d", err, len(msgs))
	}
}

func TestEnsureAndMissingQueue(t *testing.T) {
	t.Parallel()
	c, q := setup(t)
	ctx := context.Background()
	fresh, err := New(config.Storage{ConnectionString: az.Get(t).ConnectionString}, Options{}) // no cache: asks the service
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := fresh.Ensure(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// A queue created by someone else with metadata is still fine.
	other := q + "-md"
	if _, err := raw(t, other).Create(ctx, &azqueue.CreateOptions{Metadata: map[string]*string{"owner": to.Ptr("x")}}); err != nil {
		t.Fatal(err)
	}
	if err := fresh.Ensure(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Count(ctx, "no-such-queue"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("count of a missing queue: %v", err)
	}
	_, err = c.Receive(ctx, "no-such-queue", 1, time.Minute)
	if !errors.Is(err, ErrNotFound) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("receive from a missing queue: %q", err)
	}
}
