package inbox_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/hartonomous/offload/inbox"
)

// A sync worker keeps, per conversation, the last sequence it applied in
// the same store as the changes (in Neo4j, a node written in the same
// transaction). Here a map stands for that store, and three queue messages
// arrive as a queue may hand them out: the second first, then a re-send.
func ExampleOrdered() {
	last := map[string]int64{}
	handle := inbox.Ordered(
		func(_ context.Context, conv string) (int64, error) { return last[conv], nil },
		func(_ context.Context, e inbox.Event) error {
			// One transaction: the change, and last = e.Sequence.
			fmt.Printf("apply %s (%s #%d)\n", e.ID, e.Conversation, e.Sequence)
			last[e.Conversation] = e.Sequence
			return nil
		})
	body := func(id string, seq int) []byte {
		return fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"conversation":"atom:42","sequence":"%020d"}`, id, seq)
	}
	ctx := context.Background()
	for _, m := range [][]byte{body("e2", 2), body("e1", 1), body("e1", 1), body("e2", 2)} {
		switch err := handle(ctx, m); {
		case errors.Is(err, inbox.ErrNotYet):
			fmt.Println("early: leave it on the queue")
		case err != nil:
			fmt.Println("error:", err)
		default:
			fmt.Println("delete the message")
		}
	}
	// Output:
	// early: leave it on the queue
	// apply e1 (atom:42 #1)
	// delete the message
	// delete the message
	// apply e2 (atom:42 #2)
	// delete the message
}

// A reader that holds messages until their turn offers each one as it
// arrives and applies what comes back.
func ExampleBuffer() {
	buf := inbox.NewBuffer()
	for _, seq := range []int64{3, 1, 1, 2} {
		ready, err := buf.Offer(inbox.Event{ID: fmt.Sprint("e", seq), Conversation: "c", Sequence: seq})
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, e := range ready {
			fmt.Print(e.ID, " ")
		}
	}
	fmt.Println("held:", buf.Held())
	// Output: e1 e2 e3 held: 0
}
