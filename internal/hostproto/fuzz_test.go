package hostproto_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/hartonomous/offload/internal/hostproto"
)

// FuzzDecodeInvocation feeds arbitrary envelopes through every accessor. The
// seed corpus (testdata/fuzz/FuzzDecodeInvocation) holds the literal REFERENCE
// §6 payloads. Invariants: nothing panics; every refusal is ErrMalformed or
// ErrTooLarge; a reply always encodes.
func FuzzDecodeInvocation(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		inv, err := hostproto.DecodeInvocation(bytes.NewReader(body), 64<<10)
		if err != nil {
			if !errors.Is(err, hostproto.ErrMalformed) && !errors.Is(err, hostproto.ErrTooLarge) {
				t.Fatalf("DecodeInvocation error is neither ErrMalformed nor ErrTooLarge: %v", err)
			}
			return
		}
		msg, err := inv.QueueMessage("msg")
		if err != nil && !errors.Is(err, hostproto.ErrMalformed) {
			t.Fatalf("QueueMessage error is not ErrMalformed: %v", err)
		}
		_ = inv.QueueMeta(msg) // never fails
		if _, err := inv.Timer("timer"); err != nil && !errors.Is(err, hostproto.ErrMalformed) {
			t.Fatalf("Timer error is not ErrMalformed: %v", err)
		}
		id := inv.InvocationID()
		if _, err := json.Marshal(hostproto.Reply{Logs: []string{id}}); err != nil {
			t.Fatalf("Reply does not encode: %v", err)
		}
	})
}
