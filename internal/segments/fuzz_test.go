package segments_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/hartonomous/offload/internal/segments"
)

// FuzzParseMessage feeds arbitrary queue message bodies to ParseMessage. The
// seed corpus (testdata/fuzz/FuzzParseMessage) holds real messages and the
// near misses a queue sees: quoted ids, floats, negative and huge numbers,
// trailing data, duplicate keys, nested objects. Invariants: nothing panics;
// every refusal wraps ErrBadMessage; an accepted body is one valid JSON
// object, not over MaxMessageBytes, whose segmentId is a positive integer
// literal equal to the id returned; and the id survives Encode / Parse.
func FuzzParseMessage(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := segments.ParseMessage(body)
		if err != nil {
			if !errors.Is(err, segments.ErrBadMessage) {
				t.Fatalf("refusal does not wrap ErrBadMessage: %v", err)
			}
			if m != (segments.Message{}) {
				t.Fatalf("refusal returned a message %+v", m)
			}
			return
		}
		if m.SegmentID <= 0 {
			t.Fatalf("accepted segmentId %d from %q", m.SegmentID, body)
		}
		if len(body) > segments.MaxMessageBytes {
			t.Fatalf("accepted a %d-byte body (limit %d)", len(body), segments.MaxMessageBytes)
		}
		// Strict: what is accepted is valid JSON as any other decoder sees
		// it, and its segmentId is the integer literal we returned.
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			t.Fatalf("accepted %q, which is not a JSON object: %v", body, err)
		}
		if got, err := strconv.ParseInt(string(raw["segmentId"]), 10, 64); err != nil || got != m.SegmentID {
			t.Fatalf("accepted %q as segment %d, but its segmentId literal is %s", body, m.SegmentID, raw["segmentId"])
		}
		again, err := segments.ParseMessage(m.Encode())
		if err != nil || again != m {
			t.Fatalf("re-encoded %s parses as %+v, %v; want %+v", m.Encode(), again, err, m)
		}
	})
}
