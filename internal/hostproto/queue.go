package hostproto

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// QueueMessage returns the body of the queue message of a queue trigger
// binding, as the producer put it on the queue (after the host has undone
// host.json's messageEncoding). The host sends it in one of these shapes,
// shown for the message {"segmentId":1} and binding "msg":
//
//   - "msg":"\"{\\\"segmentId\\\":1}\"" — the default (dataType string or
//     unset): the message text JSON-encoded twice. The outer JSON string is
//     decoded, and since the result is itself a JSON string literal it is
//     decoded again. This is what the host sends today.
//   - "msg":"eyJzZWdtZW50SWQiOjF9" — "dataType":"binary": the bytes as
//     standard, padded base64 (Newtonsoft's byte[] encoding), decoded
//     strictly; bad base64 is an error.
//   - "msg":"{\"segmentId\":1}" — the message text encoded once (older hosts,
//     hand-written payloads): a string whose content is JSON is returned as is.
//   - "msg":{"segmentId":1} — a JSON object (or array): returned as is.
//
// A single-encoded string that is neither JSON nor base64 is refused: the
// host never sends text that way (it encodes strings twice), so such a
// payload is corrupt. null, numbers, booleans and a missing binding are
// refused too. All refusals wrap ErrMalformed. The double-decoded text is
// not decoded further: a message whose own text is base64 comes back as that
// text.
func (inv Invocation) QueueMessage(binding string) ([]byte, error) {
	raw, err := inv.binding(binding)
	if err != nil {
		return nil, err
	}
	switch raw[0] {
	case '{', '[':
		return append([]byte(nil), raw...), nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("hostproto: binding %q is not a valid JSON string: %v: %w", binding, err, ErrMalformed)
		}
		b, err := decodeMessageText(s)
		if err != nil {
			return nil, fmt.Errorf("hostproto: binding %q: %w", binding, err)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("hostproto: binding %q is %s, want a JSON string or object: %w", binding, kind(raw), ErrMalformed)
	}
}

// decodeMessageText undoes the second encoding of a queue message (see
// QueueMessage).
func decodeMessageText(s string) ([]byte, error) {
	t := strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(t, `"`):
		var inner string
		if err := json.Unmarshal([]byte(t), &inner); err != nil {
			return nil, fmt.Errorf("double-encoded message is not a valid JSON string: %v: %w", err, ErrMalformed)
		}
		return []byte(inner), nil
	case t != "" && json.Valid([]byte(t)):
		return []byte(s), nil
	default:
		b, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("message is neither JSON nor base64 (%v): %w", err, ErrMalformed)
		}
		return b, nil
	}
}

// QueueMeta is the trigger metadata of a storage queue message. It only
// describes the delivery: nothing depends on it but logs.
type QueueMeta struct {
	ID              string
	DequeueCount    int64
	InsertionTime   time.Time
	NextVisibleTime time.Time
	ExpirationTime  time.Time
	PopReceipt      string

	// Shadowed names the host's keys that the message's own top-level
	// JSON properties overwrote (see QueueMeta): they are left zero, since
	// their values are the message's, not the delivery's.
	Shadowed []string
	// Unreadable names keys whose value had a shape no host sends; they
	// are left zero.
	Unreadable []string
}

// queueMetaKeys are the binding data the queue trigger adds
// (QueueTriggerBinding.CreateBindingData), in its order.
var queueMetaKeys = []string{"DequeueCount", "ExpirationTime", "Id", "InsertionTime", "NextVisibleTime", "PopReceipt"}

// QueueMeta reads the queue trigger metadata of the invocation whose
// message is message (as QueueMessage returned it). The host encodes every
// value twice ("Id":"\"5f0c…\"", "DequeueCount":"1"); DequeueCount may
// also be a plain number, strings may be encoded once, and the times come
// as ISO strings.
//
// The host builds Metadata from its binding data, in which the message's
// own top-level JSON properties are merged over its keys, case-insensitively
// (a message {"id": 7} replaces Id). Such keys are listed in Shadowed and
// left zero. A value of a shape no host sends is listed in Unreadable and
// left zero. Neither fails the invocation: metadata never decides whether
// a message is handled.
func (inv Invocation) QueueMeta(message []byte) QueueMeta {
	var m QueueMeta
	own := topLevelKeys(message)
	for _, key := range queueMetaKeys {
		raw, ok := lookup(inv.Metadata, key)
		if !ok {
			continue
		}
		if own[strings.ToLower(key)] {
			m.Shadowed = append(m.Shadowed, key)
			continue
		}
		var err error
		switch key {
		case "Id":
			m.ID, err = metaString(raw)
		case "PopReceipt":
			m.PopReceipt, err = metaString(raw)
		case "DequeueCount":
			m.DequeueCount, err = metaInt(raw)
		case "InsertionTime":
			m.InsertionTime, err = metaTime(raw)
		case "NextVisibleTime":
			m.NextVisibleTime, err = metaTime(raw)
		case "ExpirationTime":
			m.ExpirationTime, err = metaTime(raw)
		}
		if err != nil {
			m.Unreadable = append(m.Unreadable, key)
		}
	}
	return m
}

// topLevelKeys is the set of a JSON object's property names, lower-cased
// (nil when message is not an object).
func topLevelKeys(message []byte) map[string]bool {
	var obj map[string]json.RawMessage
	if json.Unmarshal(message, &obj) != nil {
		return nil
	}
	keys := make(map[string]bool, len(obj))
	for k := range obj {
		keys[strings.ToLower(k)] = true
	}
	return keys
}
