package tdsproxy

import (
	"encoding/binary"
	"net"
	"testing"
	"time"
	"unicode/utf16"
)

func TestTransparent(t *testing.T) {
	p, f := setup(t, Config{})
	cl := dial(t, p)
	for range 3 {
		got, err := cl.batch("SELECT 1")
		if err != nil || string(got) != "ok" {
			t.Fatalf("reply %q, %v", got, err)
		}
	}
	if f.requests.Load() != 3 || p.Stats().Requests != 3 {
		t.Fatalf("server saw %d, proxy %+v", f.requests.Load(), p.Stats())
	}
}

// parseError reads the ERROR token of a forged reply.
func parseError(t *testing.T, b []byte) (number int32, class byte, msg string) {
	t.Helper()
	if len(b) < 3 || b[0] != tokenError {
		t.Fatalf("reply does not start with an ERROR token: % x", b)
	}
	body := b[3 : 3+int(binary.LittleEndian.Uint16(b[1:3]))]
	number = int32(binary.LittleEndian.Uint32(body[0:4]))
	class = body[5]
	n := int(binary.LittleEndian.Uint16(body[6:8]))
	u := make([]uint16, n)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(body[8+2*i:])
	}
	rest := b[3+len(body):]
	if rest[0] != tokenDone || binary.LittleEndian.Uint16(rest[1:3])&doneError == 0 || len(rest) != 13 {
		t.Fatalf("no final DONE with DONE_ERROR after the error: % x", rest)
	}
	return number, class, string(utf16.Decode(u))
}

// Each Azure number is answered on the wire, without reaching the server.
func TestAzureErrorReplies(t *testing.T) {
	p, f := setup(t, Config{})
	cl := dial(t, p)
	for _, ae := range AzureNumbers {
		p.Arm(Rule{Match: "UPDATE", Kind: AzureError, Number: ae.Number})
		got, err := cl.batch("UPDATE dbo.T SET x = 1")
		if err != nil {
			t.Fatal(err)
		}
		n, class, msg := parseError(t, got)
		if n != ae.Number || class != ae.Class || msg != ae.Message {
			t.Fatalf("forged %d/%d %q, want %+v", n, class, msg, ae)
		}
	}
	if f.requests.Load() != 0 {
		t.Fatalf("the server received %d requests the proxy answered", f.requests.Load())
	}
	if got, err := cl.batch("SELECT 1"); err != nil || string(got) != "ok" {
		t.Fatalf("the connection is unusable after the errors: %q %v", got, err)
	}
	if s := p.Stats(); s.Errors[40613] != 1 || s.Errors[49918] != 1 || s.Faults[AzureError] != 5 {
		t.Fatalf("stats %+v", s)
	}
}

// Armed rules match on the request's text and fire Times times.
func TestResets(t *testing.T) {
	p, f := setup(t, Config{})
	cases := []struct {
		kind    Kind
		reached int64 // requests the server saw
		partial bool  // part of the reply arrived
	}{
		{ResetBeforeForward, 0, false},
		{ResetAfterApply, 1, false},
		{ResetMidReply, 1, true},
	}
	for _, tc := range cases {
		before := f.requests.Load()
		p.Arm(Rule{Match: "RawPayload", Kind: tc.kind})
		cl := dial(t, p)
		if got, err := cl.batch("SELECT 1"); err != nil || string(got) != "ok" {
			t.Fatalf("%v: an unmatched request was spoiled: %q %v", tc.kind, got, err)
		}
		got, err := cl.batch("SELECT SUBSTRING(RawPayload, 1, 10)")
		if err == nil {
			t.Fatalf("%v: reply %q arrived", tc.kind, got)
		}
		if tc.partial != (len(got) > 0) {
			t.Fatalf("%v: got %q of the reply", tc.kind, got)
		}
		if n := f.requests.Load() - before - 1; n != tc.reached {
			t.Fatalf("%v: the server saw %d of the spoiled request, want %d", tc.kind, n, tc.reached)
		}
	}
	if p.Armed() != 0 {
		t.Fatal("rules left armed")
	}
}

// An outage resets the open connections and every new one, until it ends.
func TestOutage(t *testing.T) {
	p, _ := setup(t, Config{})
	cl := dial(t, p)
	if _, err := cl.batch("SELECT 1"); err != nil {
		t.Fatal(err)
	}
	p.SetDown(true)
	if _, err := cl.batch("SELECT 1"); err == nil {
		t.Fatal("an open connection survived the outage")
	}
	if c, err := net.Dial("tcp", p.Addr()); err == nil { // the kernel may accept before the proxy resets
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := (&client{t: t, c: c}).batch("SELECT 1"); err == nil {
			t.Fatal("a new connection was served during the outage")
		}
		c.Close()
	}
	p.SetDown(false)
	if got, err := dial(t, p).batch("SELECT 1"); err != nil || string(got) != "ok" {
		t.Fatalf("after the outage: %q %v", got, err)
	}
	if s := p.Stats(); s.Refused != 1 {
		t.Fatalf("refused %d", s.Refused)
	}
}

// The same seed gives the same faults for the same requests.
func TestSeededFaults(t *testing.T) {
	draw := func(seed int64) []Kind {
		c := newChooser(seed, 0.5, AllKinds())
		var out []Kind
		for range 200 {
			k, _, _ := c.next()
			out = append(out, k)
		}
		return out
	}
	a, b, other := draw(7), draw(7), draw(8)
	same, faults := true, 0
	for i := range a {
		same = same && a[i] == b[i]
		if a[i] != None {
			faults++
		}
	}
	if !same || faults < 60 || faults > 140 {
		t.Fatalf("seed 7 twice: same=%v, %d faults of 200 at rate 0.5", same, faults)
	}
	differs := false
	for i := range a {
		differs = differs || a[i] != other[i]
	}
	if !differs {
		t.Fatal("seeds 7 and 8 drew the same faults")
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, target := range []string{"10.0.0.1:1433", "example.com:1433", "nohost"} {
		if _, err := Start(Config{Target: target}); err == nil {
			t.Errorf("target %q accepted", target)
		}
	}
	if _, err := Start(Config{Target: "127.0.0.1:1", Rate: 2}); err == nil {
		t.Error("rate 2 accepted")
	}
}

// DownAt starts an outage at the matching request, which never reaches
// the server, and ends it after the duration.
func TestDownAt(t *testing.T) {
	p, f := setup(t, Config{})
	p.DownAt("ClaimToken", time.Millisecond)
	cl := dial(t, p)
	if _, err := cl.batch("SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.batch("UPDATE s SET ClaimToken = 1"); err == nil {
		t.Fatal("the request that starts the outage was answered")
	}
	if p.Outages() != 1 || f.requests.Load() != 1 {
		t.Fatalf("outages %d, server requests %d", p.Outages(), f.requests.Load())
	}
	for { // the outage ends by itself; each try is refused until then
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			continue
		}
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		got, err := (&client{t: t, c: c}).batch("SELECT 1")
		c.Close()
		if err == nil && string(got) == "ok" {
			return
		}
	}
}
