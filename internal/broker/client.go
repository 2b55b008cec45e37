package broker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue/queueerror"

	"github.com/hartonomous/offload/internal/config"
)

// Retry defaults, applied field by field where Options.Retry is zero (the
// same as blobstore's).
const (
	DefaultMaxRetries    = 5
	DefaultTryTimeout    = 2 * time.Minute
	DefaultRetryDelay    = 500 * time.Millisecond
	DefaultMaxRetryDelay = 30 * time.Second
)

// Options configure a Client.
type Options struct {
	// Retry is the azcore retry policy; zero fields take the defaults above.
	Retry policy.RetryOptions
	// HTTPClient replaces the transport (tests may inject one).
	HTTPClient policy.Transporter
}

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
	co := &azqueue.ClientOptions{}
	co.Retry = retryOptions(opt.Retry)
	if opt.HTTPClient != nil {
		co.Transport = opt.HTTPClient
	}
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
		cred, cerr := credential(st)
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

func credential(st config.Storage) (azcore.TokenCredential, error) {
	if st.ClientID != "" {
		return azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(st.ClientID)})
	}
	return azidentity.NewDefaultAzureCredential(nil)
}

func retryOptions(r policy.RetryOptions) policy.RetryOptions {
	if r.MaxRetries == 0 {
		r.MaxRetries = DefaultMaxRetries
	}
	if r.TryTimeout == 0 {
		r.TryTimeout = DefaultTryTimeout
	}
	if r.RetryDelay == 0 {
		r.RetryDelay = DefaultRetryDelay
	}
	if r.MaxRetryDelay == 0 {
		r.MaxRetryDelay = DefaultMaxRetryDelay
	}
	return r
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

// serviceError is a storage response error reduced to one line (azcore's
// message spans many); the original stays reachable with errors.As.
type serviceError struct {
	kind   error
	status int
	code   string
	err    error
}

func (e *serviceError) Error() string {
	msg := fmt.Sprintf("HTTP %d %s", e.status, e.code)
	if e.kind != nil {
		return e.kind.Error() + " (" + msg + ")"
	}
	return "storage service: " + msg
}

func (e *serviceError) Unwrap() []error {
	if e.kind != nil {
		return []error{e.kind, e.err}
	}
	return []error{e.err}
}

func normalize(err error) error {
	var re *azcore.ResponseError
	if err == nil || !errors.As(err, &re) {
		return err
	}
	e := &serviceError{status: re.StatusCode, code: re.ErrorCode, err: err}
	// A stale pop receipt means the message was completed, or received again
	// by someone else: for us it is gone either way.
	if re.StatusCode == http.StatusNotFound ||
		queueerror.HasCode(err, queueerror.QueueNotFound, queueerror.MessageNotFound, queueerror.PopReceiptMismatch) {
		e.kind = ErrNotFound
	}
	return e
}
