package tdsproxy

import (
	"fmt"

	"github.com/hartonomous/offload/tests/faultdraw"
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
func AllKinds() []Kind { return faultdraw.All(numKinds) }

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

// chooser draws the random faults (faultdraw.Draw) and, for AzureError,
// which of AzureNumbers it answers with (placed by the draw's fraction).
type chooser struct{ d *faultdraw.Draw[Kind] }

func newChooser(seed int64, rate float64, kinds []Kind) *chooser {
	return &chooser{faultdraw.New(seed, rate, kinds)}
}

// next is the fault of the next request and, for AzureError, its error;
// frac places a Delay within MaxDelay.
func (c *chooser) next() (Kind, AzureErr, float64) {
	k, frac := c.d.Next()
	return k, AzureNumbers[int(frac*float64(len(AzureNumbers)))], frac
}

func (c *chooser) setRate(r float64) { c.d.SetRate(r) }
