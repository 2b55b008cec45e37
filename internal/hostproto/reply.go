package hostproto

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// Reply is the body a custom handler answers an invocation with:
//
//	{"Outputs":{},"Logs":["…"],"ReturnValue":null}
//
// Outputs always encodes as an object and Logs as an array, never null.
//
// Beware of strings: for an output binding whose dataType is not "binary",
// the host first tries Convert.FromBase64String on a string value and, if
// that succeeds, binds the decoded bytes instead of the text. "abcd", "" or
// "1234" would silently become bytes. Never put such a string in Outputs or
// ReturnValue by accident: Check refuses them.
type Reply struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// MarshalJSON writes Outputs as {} and Logs as [] when they are nil.
func (r Reply) MarshalJSON() ([]byte, error) {
	type wire Reply
	w := wire(r)
	if w.Outputs == nil {
		w.Outputs = map[string]any{}
	}
	if w.Logs == nil {
		w.Logs = []string{}
	}
	return json.Marshal(w)
}

// Check refuses a reply whose output or return value is a string the host
// would decode as base64 (see Reply).
func (r Reply) Check() error {
	for name, v := range r.Outputs {
		if s, ok := v.(string); ok && HostDecodesBase64(s) {
			return fmt.Errorf("hostproto: output %q is %q, which the host would decode as base64", name, s)
		}
	}
	if s, ok := r.ReturnValue.(string); ok && HostDecodesBase64(s) {
		return fmt.Errorf("hostproto: return value %q would be decoded as base64 by the host", s)
	}
	return nil
}

// HostDecodesBase64 reports whether .NET's Convert.FromBase64String accepts
// s, that is, whether the host would turn the string output s into bytes. It
// ignores white space, as .NET does; the empty string decodes (to nothing).
func HostDecodesBase64(s string) bool {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}
