package hostproto_test

import (
	"encoding/json"
	"testing"

	"github.com/hartonomous/offload/internal/hostproto"
)

func TestReplyJSON(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply hostproto.Reply
		want  string
	}{
		{"zero", hostproto.Reply{}, `{"Outputs":{},"Logs":[],"ReturnValue":null}`},
		{"logs", hostproto.Reply{Logs: []string{"migrated segment 1"}}, `{"Outputs":{},"Logs":["migrated segment 1"],"ReturnValue":null}`},
		{"outputs", hostproto.Reply{Outputs: map[string]any{"out": map[string]int{"segmentId": 1}}}, `{"Outputs":{"out":{"segmentId":1}},"Logs":[],"ReturnValue":null}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []any{tc.reply, &tc.reply} {
				b, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != tc.want {
					t.Fatalf("json = %s, want %s", b, tc.want)
				}
			}
		})
	}
}

func TestHostDecodesBase64(t *testing.T) {
	for s, want := range map[string]bool{
		"":                     true, // .NET decodes "" to an empty array
		"abcd":                 true,
		"1234":                 true,
		"eyJzZWdtZW50SWQiOjF9": true,
		"ab cd":                true, // white space is ignored
		"abc=":                 true,
		"ok":                   false,
		"migrated":             true, // any 4n letters and digits decode
		"segment 1 migrated":   true, // white space dropped: 16 characters
		"segment 1 migrated.":  false,
		"{\"a\":1}":            false,
		"abc":                  false,
	} {
		if got := hostproto.HostDecodesBase64(s); got != want {
			t.Errorf("HostDecodesBase64(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestReplyCheck(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply hostproto.Reply
		ok    bool
	}{
		{"empty", hostproto.Reply{}, true},
		{"object output", hostproto.Reply{Outputs: map[string]any{"out": map[string]string{"a": "abcd"}}}, true},
		{"text output", hostproto.Reply{Outputs: map[string]any{"out": "segment 1: done"}}, true},
		{"base64-looking output", hostproto.Reply{Outputs: map[string]any{"out": "abcd"}}, false},
		{"empty string output", hostproto.Reply{Outputs: map[string]any{"out": ""}}, false},
		{"base64-looking return", hostproto.Reply{ReturnValue: "1234"}, false},
		{"logs are not decoded", hostproto.Reply{Logs: []string{"abcd"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.reply.Check(); (err == nil) != tc.ok {
				t.Fatalf("Check() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
