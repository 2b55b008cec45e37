package hostproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// InvocationIDHeader is the request header in which the host sends the
// invocation id, on invocation envelopes and forwarded HTTP requests alike.
const InvocationIDHeader = "X-Azure-Functions-InvocationId"

// DefaultLimit is the envelope size DecodeInvocation accepts when given no
// limit. A storage queue message is at most 64 KiB, so 1 MiB leaves room for
// the encodings and the metadata.
const DefaultLimit int64 = 1 << 20

var (
	// ErrMalformed wraps every error about an envelope or a value that does
	// not have the shape the host sends. Such an invocation cannot succeed
	// by being retried as is.
	ErrMalformed = errors.New("malformed invocation")
	// ErrTooLarge is returned for an envelope over the limit.
	ErrTooLarge = errors.New("invocation too large")
)

// Invocation is one decoded invocation envelope. Data holds the trigger and
// input bindings by binding name, Metadata the trigger metadata; values are
// kept raw because their encoding varies (see the package doc).
type Invocation struct {
	Data     map[string]json.RawMessage
	Metadata map[string]json.RawMessage

	// HeaderInvocationID is the X-Azure-Functions-InvocationId header of the
	// request that carried the envelope, set by the server ("" when the
	// envelope was decoded on its own).
	HeaderInvocationID string
}

// DecodeInvocation reads one envelope of at most limit bytes (DefaultLimit
// when limit <= 0). It refuses a larger body (ErrTooLarge), a body that is
// not one JSON object, and an envelope without a Data object (ErrMalformed).
// Metadata is optional and never nil in the result.
func DecodeInvocation(r io.Reader, limit int64) (Invocation, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	// An envelope is small and bounded by limit: reading it whole is fine.
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return Invocation{}, fmt.Errorf("hostproto: body over %d bytes: %w", limit, ErrTooLarge)
		}
		return Invocation{}, fmt.Errorf("hostproto: read invocation: %w", err)
	}
	if int64(len(body)) > limit {
		return Invocation{}, fmt.Errorf("hostproto: body over %d bytes: %w", limit, ErrTooLarge)
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return Invocation{}, fmt.Errorf("hostproto: invocation is not a JSON object: %w", ErrMalformed)
	}
	var env struct {
		Data     map[string]json.RawMessage `json:"Data"`
		Metadata map[string]json.RawMessage `json:"Metadata"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return Invocation{}, fmt.Errorf("hostproto: invocation is not valid JSON: %v: %w", err, ErrMalformed)
	}
	if env.Data == nil {
		return Invocation{}, fmt.Errorf("hostproto: invocation has no Data object: %w", ErrMalformed)
	}
	if env.Metadata == nil {
		env.Metadata = map[string]json.RawMessage{}
	}
	return Invocation{Data: env.Data, Metadata: env.Metadata}, nil
}

// InvocationID is the host's id of this invocation: the request header when
// the server set it, else an "InvocationId" in Metadata.sys or Metadata
// (which some hosts and tests provide), else "".
func (inv Invocation) InvocationID() string {
	if inv.HeaderInvocationID != "" {
		return inv.HeaderInvocationID
	}
	if raw, ok := lookup(inv.Metadata, "sys"); ok {
		var sys map[string]json.RawMessage
		if json.Unmarshal(raw, &sys) == nil {
			if v, ok := lookup(sys, "InvocationId"); ok {
				if s, err := metaString(v); err == nil && s != "" {
					return s
				}
			}
		}
	}
	if v, ok := lookup(inv.Metadata, "InvocationId"); ok {
		if s, err := metaString(v); err == nil {
			return s
		}
	}
	return ""
}

// binding returns the Data value of a binding, refusing a missing one or
// JSON null.
func (inv Invocation) binding(name string) (json.RawMessage, error) {
	raw, ok := lookup(inv.Data, name)
	if !ok {
		return nil, fmt.Errorf("hostproto: no binding %q in Data: %w", name, ErrMalformed)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, fmt.Errorf("hostproto: binding %q is null: %w", name, ErrMalformed)
	}
	return raw, nil
}

// lookup finds key exactly, else case-insensitively: the host spells keys as
// declared, but hand-written payloads (tests, docs) vary the case.
func lookup(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}
