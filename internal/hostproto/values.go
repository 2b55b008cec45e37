package hostproto

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// metaString reads a metadata value that should be text: a JSON string
// holding a JSON string literal ("\"abc\"", the host's double encoding), a
// plain JSON string ("abc"), or a number (its literal text). null is "".
func metaString(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", nil
	}
	switch c := raw[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("not a valid JSON string: %v: %w", err, ErrMalformed)
		}
		if t := strings.TrimSpace(s); strings.HasPrefix(t, `"`) {
			var inner string
			if err := json.Unmarshal([]byte(t), &inner); err != nil {
				return "", fmt.Errorf("double-encoded value %q is not a valid JSON string: %w", s, ErrMalformed)
			}
			return inner, nil
		}
		return s, nil
	case c == '-' || (c >= '0' && c <= '9'):
		if !json.Valid(raw) {
			return "", fmt.Errorf("not a valid JSON number: %w", ErrMalformed)
		}
		return string(raw), nil
	default:
		return "", fmt.Errorf("is %s, want a string: %w", kind(raw), ErrMalformed)
	}
}

// metaInt reads an integer sent as a number (1) or as text ("1", "\"1\"").
// Absent or null is 0; negative numbers are refused.
func metaInt(raw json.RawMessage) (int64, error) {
	s, err := metaString(raw)
	if err != nil {
		return 0, err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a non-negative integer: %w", s, ErrMalformed)
	}
	return n, nil
}

// metaTime reads a date sent as text (once or twice encoded). Absent, null
// or "" is the zero time.
func metaTime(raw json.RawMessage) (time.Time, error) {
	s, err := metaString(raw)
	if err != nil {
		return time.Time{}, err
	}
	return parseHostTime(s)
}

// hostTimeLayouts are the ways .NET writes a DateTime/DateTimeOffset:
// Newtonsoft's ISO 8601 (with an offset, a Z, or no zone at all for an
// unspecified DateTime, which is then taken as UTC) and the invariant
// culture's DateTimeOffset.ToString().
var hostTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"1/2/2006 3:04:05 PM -07:00",
	"1/2/2006 3:04:05 PM",
}

func parseHostTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range hostTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date: %w", s, ErrMalformed)
}

// kind names the JSON type of a raw value for error messages.
func kind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "empty"
	}
	switch c := raw[0]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	default:
		return "a number"
	}
}
