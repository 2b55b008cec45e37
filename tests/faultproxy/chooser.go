package faultproxy

import (
	"fmt"
	"math/rand/v2"
	"sync"
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
func AllKinds() []Kind {
	out := make([]Kind, 0, numKinds-1)
	for k := None + 1; k < numKinds; k++ {
		out = append(out, k)
	}
	return out
}

// fault is the chooser's decision for one request.
type fault struct {
	kind Kind
	// frac in [0,1) places the fault: the share of MaxDelay to sleep, or
	// where the answer is cut.
	frac float64
}

// chooser draws one fault per request from a seeded PRNG. Every draw takes
// the same three numbers whatever the outcome, so the sequence of kinds is
// a function of the seed and the request's position alone: changing the
// rate (SetRate) only changes which positions get their fault.
type chooser struct {
	mu    sync.Mutex
	rng   *rand.Rand
	rate  float64
	kinds []Kind
}

func newChooser(seed int64, rate float64, kinds []Kind) *chooser {
	s := uint64(seed)
	return &chooser{
		rng:   rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15)),
		rate:  clampRate(rate),
		kinds: append([]Kind(nil), kinds...),
	}
}

func (c *chooser) next() fault {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.rng.Float64()
	k := c.kinds[c.rng.IntN(len(c.kinds))]
	frac := c.rng.Float64()
	if u >= c.rate {
		return fault{kind: None}
	}
	return fault{kind: k, frac: frac}
}

func (c *chooser) setRate(r float64) {
	c.mu.Lock()
	c.rate = clampRate(r)
	c.mu.Unlock()
}

// clampRate keeps r in [0,1]; NaN is 0.
func clampRate(r float64) float64 {
	switch {
	case r > 1:
		return 1
	case r > 0:
		return r
	default:
		return 0
	}
}
