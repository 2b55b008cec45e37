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

// QueueMeta is the trigger metadata of a storage queue message.
type QueueMeta struct {
	ID              string
	DequeueCount    int64
	InsertionTime   time.Time
	NextVisibleTime time.Time
	ExpirationTime  time.Time
	PopReceipt      string
}

// QueueMeta reads the queue trigger metadata. The host encodes every value
// twice ("Id":"\"5f0c…\"", "InsertionTime":"\"2024-05-01T10:00:00+00:00\"",
// "DequeueCount":"1"); DequeueCount may also be a plain number
// ("DequeueCount":1) and strings may be encoded once. Missing fields stay
// zero; a field of the wrong shape (DequeueCount "abc", a time that is not
// a date) is an error wrapping ErrMalformed.
func (inv Invocation) QueueMeta() (QueueMeta, error) {
	var m QueueMeta
	var err error
	str := func(key string, dst *string) {
		if v, ok := lookup(inv.Metadata, key); ok && err == nil {
			if *dst, err = metaString(v); err != nil {
				err = fmt.Errorf("hostproto: metadata %s: %w", key, err)
			}
		}
	}
	tm := func(key string, dst *time.Time) {
		if v, ok := lookup(inv.Metadata, key); ok && err == nil {
			if *dst, err = metaTime(v); err != nil {
				err = fmt.Errorf("hostproto: metadata %s: %w", key, err)
			}
		}
	}
	str("Id", &m.ID)
	str("PopReceipt", &m.PopReceipt)
	tm("InsertionTime", &m.InsertionTime)
	tm("NextVisibleTime", &m.NextVisibleTime)
	tm("ExpirationTime", &m.ExpirationTime)
	if v, ok := lookup(inv.Metadata, "DequeueCount"); ok && err == nil {
		if m.DequeueCount, err = metaInt(v); err != nil {
			err = fmt.Errorf("hostproto: metadata DequeueCount: %w", err)
		}
	}
	if err != nil {
		return QueueMeta{}, err
	}
	return m, nil
}
