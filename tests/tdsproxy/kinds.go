package tdsproxy

import (
	"fmt"
	"math/rand/v2"
	"sync"
)

// Kind is a fault the proxy injects into one request (a SQL batch, an RPC,
// a transaction manager request) and its reply.
type Kind int

const (
	// None: forwarded and answered verbatim.
	None Kind = iota
	// ResetBeforeForward resets the connection without forwarding: the
	// server never sees the request.
	ResetBeforeForward
	// ResetAfterApply forwards the request, lets the server run it and
	// answer in full, drops the answer and resets the connection: a
	// commit whose answer was lost.
	ResetAfterApply
	// ResetMidReply forwards the request and part of the reply (a result
	// set, a payload chunk), then resets the connection.
	ResetMidReply
	// Delay waits up to MaxDelay, then forwards.
	Delay
	// AzureError answers with an ERROR token carrying one of Azure SQL
	// Database's transient error numbers (AzureNumbers), without
	// forwarding: the numbers the test engine never raises.
	AzureError

	numKinds
)

func (k Kind) String() string {
	switch k {
	case None:
		return "None"
	case ResetBeforeForward:
		return "ResetBeforeForward"
	case ResetAfterApply:
		return "ResetAfterApply"
	case ResetMidReply:
		return "ResetMidReply"
	case Delay:
		return "Delay"
	case AzureError:
		return "AzureError"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// AllKinds lists every fault kind (None excluded).
func AllKinds() []Kind {
	out := make([]Kind, 0, numKinds-1)
	for k := None + 1; k < numKinds; k++ {
		out = append(out, k)
	}
	return out
}

// AzureErr is one of Azure SQL Database's transient errors as the server
// sends it (sql-docs azure-sql/database/troubleshoot-common-errors-issues.md).
type AzureErr struct {
	Number  int32
	Class   byte
	Message string
}

// AzureNumbers are the errors AzureError chooses from: a reconfiguration
// (40613, 40197) and the resource governor (40501, 10928, 49918).
var AzureNumbers = []AzureErr{
	{40613, 17, "Database 'Hartonomous' on server 'tdsproxy' is not currently available. Please retry the connection later."},
	{40197, 17, "The service has encountered an error processing your request. Please try again. Error code 40143."},
	{40501, 20, "The service is currently busy. Retry the request after 10 seconds. Incident ID: {tdsproxy}. Code: 12345."},
	{10928, 20, "Resource ID : 1. The request limit for the database is 400 and has been reached."},
	{49918, 16, "Cannot process request. Not enough resources to process request. The service is currently busy. Please retry the request later."},
}

// AzureErrorFor is the AzureNumbers entry of number (and false if none).
func AzureErrorFor(number int32) (AzureErr, bool) {
	for _, e := range AzureNumbers {
		if e.Number == number {
			return e, true
		}
	}
	return AzureErr{}, false
}

// chooser draws faults from a seeded PRNG: the same seed and order of
// requests give the same faults.
type chooser struct {
	mu    sync.Mutex
	rng   *rand.Rand
	rate  float64
	kinds []Kind
}

func newChooser(seed int64, rate float64, kinds []Kind) *chooser {
	return &chooser{rng: rand.New(rand.NewPCG(uint64(seed), 0x7d5)), rate: rate, kinds: kinds}
}

// next is the fault of the next request and, for AzureError, its error.
func (c *chooser) next() (Kind, AzureErr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rate <= 0 || c.rng.Float64() >= c.rate {
		return None, AzureErr{}
	}
	k := c.kinds[c.rng.IntN(len(c.kinds))]
	return k, AzureNumbers[c.rng.IntN(len(AzureNumbers))]
}

func (c *chooser) setRate(r float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rate = min(max(r, 0), 1)
}

// delay is a random wait in [0, max).
func (c *chooser) delay(max int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if max <= 0 {
		return 0
	}
	return c.rng.Int64N(max)
}
