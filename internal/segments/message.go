package segments

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Message is the body of a segment migration message: {"segmentId": 123}.
type Message struct {
	SegmentID int64 `json:"segmentId"`
}

// MaxMessageBytes bounds what ParseMessage looks at; a real message is tiny.
const MaxMessageBytes = 4096

// ParseMessage decodes a migration message strictly: one JSON object with a
// positive integer segmentId and nothing else of importance. Errors wrap
// ErrBadMessage and quote (a bounded prefix of) the body.
func ParseMessage(body []byte) (Message, error) {
	if len(body) > MaxMessageBytes {
		return Message{}, fmt.Errorf("%w: %d bytes (at most %d)", ErrBadMessage, len(body), MaxMessageBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return Message{}, fmt.Errorf("%w: not a JSON object: %q", ErrBadMessage, clip(body))
	}
	// Only white space may follow the object. dec.More() is not enough: it
	// reports false before a stray ']' or '}', which would then be accepted.
	if _, err := dec.Token(); err != io.EOF {
		return Message{}, fmt.Errorf("%w: trailing data after the JSON object: %q", ErrBadMessage, clip(body))
	}
	v, ok := raw["segmentId"]
	if !ok {
		return Message{}, fmt.Errorf(`%w: no "segmentId" in %q`, ErrBadMessage, clip(body))
	}
	var n json.Number
	// json.Number also takes a quoted number ("12"): a string is not an id.
	if len(v) == 0 || v[0] == '"' {
		return Message{}, fmt.Errorf("%w: segmentId is not a number: %s", ErrBadMessage, clip(v))
	}
	if err := json.Unmarshal(v, &n); err != nil {
		return Message{}, fmt.Errorf("%w: segmentId is not a number: %s", ErrBadMessage, clip(v))
	}
	id, err := n.Int64()
	if err != nil || id <= 0 {
		return Message{}, fmt.Errorf("%w: segmentId %s is not a positive integer", ErrBadMessage, clip(v))
	}
	return Message{SegmentID: id}, nil
}

// Encode returns the wire form of m.
func (m Message) Encode() []byte {
	b, _ := json.Marshal(m)
	return b
}

func clip(b []byte) string {
	const max = 120
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
