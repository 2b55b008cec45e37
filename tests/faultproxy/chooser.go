package faultproxy

import (
	"fmt"

	"github.com/hartonomous/offload/tests/faultdraw"
)

// Kind is a fault the proxy injects into one request.
//
// "Before forwarding" kinds never reach Azurite: nothing was applied and a
// retry is always safe. "After forwarding" kinds let Azurite apply the
// request and then spoil the answer: the write happened but the client sees
// an error, so its retry repeats an applied operation. That is the case
// that shows whether an operation is really idempotent.
type Kind int

const (
	// None: the request is forwarded and answered verbatim.
	None Kind = iota
	// ResetBeforeForward resets the client connection (TCP RST) without
	// forwarding: the request never reaches Azurite.
	ResetBeforeForward
	// ResetAfterForward forwards the request, lets Azurite apply it, then
	// resets the client connection before sending any byte of the answer.
	ResetAfterForward
	// ResetMidBody forwards, sends the status line, the headers and part of
	// the body, then resets the connection (TCP RST). An answer with no body
	// to cut (HEAD, 204, 304, Content-Length 0) is cut inside its headers.
	ResetMidBody
	// Delay sleeps up to MaxDelay, then forwards normally.
	Delay
	// Truncate forwards, sends the headers with the real Content-Length and
	// fewer body bytes, then closes the connection cleanly (FIN): the client
	// sees an unexpected EOF. An answer with no body is cut inside its
	// headers, as with ResetMidBody.
	Truncate
	// ServerBusy503 answers 503 ServerBusy, the way a throttled storage
	// account does, without forwarding.
	ServerBusy503
	// Internal500 answers 500 InternalError without forwarding.
	Internal500

	numKinds
)

// ResetBeforeResponse is ResetAfterForward under its first name: the
// request reached Azurite, the answer never reaches the client.
const ResetBeforeResponse = ResetAfterForward

func (k Kind) String() string {
	switch k {
	case None:
		return "None"
	case ResetBeforeForward:
		return "ResetBeforeForward"
	case ResetAfterForward:
		return "ResetAfterForward"
	case ResetMidBody:
		return "ResetMidBody"
	case Delay:
		return "Delay"
	case Truncate:
		return "Truncate"
	case ServerBusy503:
		return "ServerBusy503"
	case Internal500:
		return "Internal500"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Forwards reports whether a request with this fault reaches Azurite.
func (k Kind) Forwards() bool {
	return k != ResetBeforeForward && k != ServerBusy503 && k != Internal500
}

// AllKinds lists every fault kind (None excluded).
func AllKinds() []Kind { return faultdraw.All(numKinds) }

// fault is the chooser's decision for one request.
type fault struct {
	kind Kind
	// frac in [0,1) places the fault: the share of MaxDelay to sleep, or
	// where the answer is cut.
	frac float64
}

// chooser draws one fault per request (faultdraw.Draw).
type chooser struct{ d *faultdraw.Draw[Kind] }

func newChooser(seed int64, rate float64, kinds []Kind) *chooser {
	return &chooser{faultdraw.New(seed, rate, kinds)}
}

func (c *chooser) next() fault {
	k, frac := c.d.Next()
	return fault{kind: k, frac: frac}
}

func (c *chooser) setRate(r float64) { c.d.SetRate(r) }
