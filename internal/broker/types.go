// Package broker is Offload's message transport over Azure Storage Queues,
// replacing Service Broker: publish, receive with a visibility timeout,
// complete, abandon, and poison after N deliveries, the way the Functions
// queue trigger treats messages.
//
// Message bodies are sent base64-encoded (the Functions host's default
// messageEncoding and .NET QueueClient with QueueMessageEncoding.Base64).
package broker

import (
	"errors"
	"time"
)

var (
	// ErrNotFound: the queue or message does not exist (a message that was
	// already completed, or whose pop receipt expired).
	ErrNotFound = errors.New("broker: not found")
	// ErrTooLarge: the encoded message exceeds MaxMessageBytes.
	ErrTooLarge = errors.New("broker: message too large")
)

// MaxMessageBytes is Azure Storage Queue's limit for one message after
// encoding (64 KiB).
const MaxMessageBytes = 64 * 1024

// Message is one received message.
type Message struct {
	ID           string
	PopReceipt   string
	DequeueCount int64
	InsertedAt   time.Time
	// Body is the decoded body (base64 decoded when it was base64).
	Body []byte
	// Queue the message was received from.
	Queue string
	// Text is the message text exactly as stored (base64 for messages we
	// publish). Abandon and Extend send it back unchanged (the service's
	// Update Message replaces the text), and Poison moves it as is. Empty on
	// a Message built by hand: Body, base64-encoded, is used then.
	Text string
}
