package inbox

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

func ev(conv string, seq int64) Event {
	return Event{ID: fmt.Sprintf("%s-%d", conv, seq), Conversation: conv, Sequence: seq}
}

func TestNext(t *testing.T) {
	for _, tc := range []struct {
		last, seq int64
		want      Verdict
	}{
		{0, 1, Apply}, {0, 2, NotYet}, {3, 3, Duplicate}, {3, 1, Duplicate}, {3, 4, Apply}, {3, 9, NotYet}, {5, 0, Apply},
	} {
		if got := Next(tc.last, Event{Sequence: tc.seq}); got != tc.want {
			t.Errorf("Next(last %d, seq %d) = %s, want %s", tc.last, tc.seq, got, tc.want)
		}
	}
}

func TestParseEvent(t *testing.T) {
	e, err := ParseEvent([]byte(`{"specversion":"1.0","id":"e1","conversation":"atom:42","sequence":"00000000000000000007","data":{}}`))
	if err != nil || e.ID != "e1" || e.Conversation != "atom:42" || e.Sequence != 7 {
		t.Fatalf("ParseEvent = %+v, %v", e, err)
	}
	if e, err := ParseEvent([]byte(`[1,2]`)); err != nil || e.Sequence != 0 || e.ID != "" {
		t.Fatalf("an array: %+v, %v", e, err)
	}
	if e, _ := ParseEvent([]byte(`{"id":42}`)); e.ID != "42" {
		t.Fatalf("a numeric id: %q", e.ID)
	}
	for _, bad := range []string{`{"sequence":"x"}`, `{"sequence":"-1"}`, `{"sequence":"0"}`} {
		if _, err := ParseEvent([]byte(bad)); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
}

// TestBufferReorders: every permutation with duplicates of two
// conversations comes out once each, in order per conversation.
func TestBufferReorders(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		var in []Event
		for _, c := range []string{"a", "b"} {
			for s := int64(1); s <= 6; s++ {
				in = append(in, ev(c, s))
				if rng.IntN(3) == 0 {
					in = append(in, ev(c, s)) // a re-send
				}
			}
		}
		rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		box := NewBuffer()
		got := map[string][]int64{}
		for _, e := range in {
			ready, err := box.Offer(e)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range ready {
				got[r.Conversation] = append(got[r.Conversation], r.Sequence)
			}
		}
		for _, c := range []string{"a", "b"} {
			if fmt.Sprint(got[c]) != "[1 2 3 4 5 6]" {
				t.Fatalf("round %d: conversation %s delivered %v", round, c, got[c])
			}
		}
		if box.Held() != 0 {
			t.Fatalf("round %d: %d events still held", round, box.Held())
		}
	}
}

func TestBufferRefusesTwoEventsInOnePlace(t *testing.T) {
	box := NewBuffer()
	if _, err := box.Offer(ev("a", 2)); err != nil {
		t.Fatal(err)
	}
	other := ev("a", 2)
	other.ID = "someone-else"
	if _, err := box.Offer(other); err == nil {
		t.Fatal("a second event with the held sequence was accepted")
	}
	box.Resume("b", 10)
	if r, _ := box.Offer(ev("b", 10)); len(r) != 0 {
		t.Fatal("an event at the resumed position was delivered again")
	}
	if r, _ := box.Offer(ev("b", 11)); len(r) != 1 || box.Last("b") != 11 {
		t.Fatalf("after resume: %v, last %d", r, box.Last("b"))
	}
	plain := Event{ID: "x"}
	if r, _ := box.Offer(plain); len(r) != 1 {
		t.Fatal("an unsequenced event was not delivered")
	}
	if r, _ := box.Offer(plain); len(r) != 0 {
		t.Fatal("an unsequenced event was delivered twice")
	}
}

func TestOrdered(t *testing.T) {
	store := map[string]int64{}
	var applied []string
	h := Ordered(func(_ context.Context, c string) (int64, error) { return store[c], nil },
		func(_ context.Context, e Event) error {
			applied = append(applied, e.ID)
			store[e.Conversation] = e.Sequence
			return nil
		})
	msg := func(seq int64) []byte {
		return fmt.Appendf(nil, `{"specversion":"1.0","id":"e%d","conversation":"c","sequence":"%020d"}`, seq, seq)
	}
	ctx := context.Background()
	if err := h(ctx, msg(2)); !errors.Is(err, ErrNotYet) {
		t.Fatalf("early event: %v", err)
	}
	for _, s := range []int64{1, 1, 2, 2} {
		if err := h(ctx, msg(s)); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(applied) != "[e1 e2]" {
		t.Fatalf("applied %v", applied)
	}
}
