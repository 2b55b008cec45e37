package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue/queueerror"

	"github.com/hartonomous/offload/internal/azstorage"
	"github.com/hartonomous/offload/internal/config"
)

// Options configure a Client: retry policy (azstorage.Default* where
// zero, the same as blobstore's) and transport.
type Options = azstorage.Options

// Client is a Queue Storage account. It is safe for concurrent use.
type Client struct {
	svc *azqueue.ServiceClient
	// ensured remembers the queues Ensure created or found, so Poison does
	// not ask the service each time.
	ensured sync.Map
}

// New connects to the account st describes: by connection string, or by
// identity (managed identity with st.ClientID when set, otherwise
// DefaultAzureCredential) with st.QueueServiceURL. No request is made yet.
func New(st config.Storage, opt Options) (*Client, error) {
	co := &azqueue.ClientOptions{ClientOptions: opt.ClientOptions()}
	var (
		svc *azqueue.ServiceClient
		err error
	)
	switch {
	case st.ConnectionString != "":
		svc, err = azqueue.NewServiceClientFromConnectionString(st.ConnectionString, co)
		if err != nil {
			// The SDK's message may quote the string: do not pass it on.
			return nil, errors.New("broker: the storage connection string is not valid (it needs a QueueEndpoint or AccountName)")
		}
	case st.QueueServiceURL != "":
		cred, cerr := azstorage.Credential(st)
		if cerr != nil {
			return nil, fmt.Errorf("broker: credential: %w", cerr)
		}
		svc, err = azqueue.NewServiceClient(st.QueueServiceURL, cred, co)
		if err != nil {
			return nil, fmt.Errorf("broker: client for %s: %w", st.QueueServiceURL, err)
		}
	default:
		return nil, errors.New("broker: no storage configured (connection string or queue service URL)")
	}
	return &Client{svc: svc}, nil
}

func (c *Client) queue(name string) *azqueue.QueueClient { return c.svc.NewQueueClient(name) }

// Ensure creates the queue if it does not exist.
func (c *Client) Ensure(ctx context.Context, queue string) error {
	if _, ok := c.ensured.Load(queue); ok {
		return nil
	}
	_, err := c.queue(queue).Create(ctx, nil)
	// QueueAlreadyExists: the queue exists with other metadata; still ours.
	if err != nil && !queueerror.HasCode(err, queueerror.QueueAlreadyExists) {
		return fmt.Errorf("broker: create queue %s: %w", queue, normalize(err))
	}
	c.ensured.Store(queue, true)
	return nil
}

// normalize maps the service's answers onto ErrNotFound and shortens
// response errors to one line; other errors pass unchanged.
func normalize(err error) error { return azstorage.Normalize(err, classify) }

func classify(err error, re *azcore.ResponseError) error {
	// A stale pop receipt means the message was completed, or received again
	// by someone else: for us it is gone either way.
	if re.StatusCode == http.StatusNotFound ||
		queueerror.HasCode(err, queueerror.QueueNotFound, queueerror.MessageNotFound, queueerror.PopReceiptMismatch) {
		return ErrNotFound
	}
	return nil
}

// Length is the approximate number of messages in queue (the service's
// x-ms-approximate-messages-count): 0 when the queue does not exist.
func (c *Client) Length(ctx context.Context, queue string) (int64, error) {
	props, err := c.queue(queue).GetProperties(ctx, nil)
	if err != nil {
		err = normalize(err)
		if errors.Is(err, ErrNotFound) {
			return 0, nil
		}
		return 0, fmt.Errorf("broker: length of queue %s: %w", queue, err)
	}
	if props.ApproximateMessagesCount == nil {
		return 0, nil
	}
	return int64(*props.ApproximateMessagesCount), nil
}
