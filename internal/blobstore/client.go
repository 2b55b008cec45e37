package blobstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/hartonomous/offload/internal/azstorage"
	"github.com/hartonomous/offload/internal/config"
)

// Options configure a Client: retry policy (azstorage.Default* where
// zero) and transport.
type Options = azstorage.Options

// Client is a Blob Storage account. It is safe for concurrent use.
type Client struct {
	svc *azblob.Client
	// base is the service URL with a trailing slash, for URL.
	base string
	bufs bufPool
	// maxRetries also bounds the reconnections of a download body.
	maxRetries int32
	// listPageSize overrides the service's page size (5000); tests use it
	// to cross page boundaries with a few blobs.
	listPageSize int32
	// maxBlocks is MaxBlocks; tests lower it to reach the limit cheaply.
	maxBlocks int
}

// New connects to the account st describes: by connection string, or by
// identity (managed identity with st.ClientID when set, otherwise
// DefaultAzureCredential) with st.BlobServiceURL. No request is made yet.
func New(st config.Storage, opt Options) (*Client, error) {
	co := &azblob.ClientOptions{ClientOptions: opt.ClientOptions()}
	var (
		svc *azblob.Client
		err error
	)
	switch {
	case st.ConnectionString != "":
		svc, err = azblob.NewClientFromConnectionString(st.ConnectionString, co)
		if err != nil {
			// The SDK's message may quote the string: do not pass it on.
			return nil, errors.New("blobstore: the storage connection string is not valid")
		}
	case st.UsesIdentity():
		cred, cerr := azstorage.Credential(st)
		if cerr != nil {
			return nil, fmt.Errorf("blobstore: credential: %w", cerr)
		}
		svc, err = azblob.NewClient(st.BlobServiceURL, cred, co)
		if err != nil {
			return nil, fmt.Errorf("blobstore: client for %s: %w", st.BlobServiceURL, err)
		}
	default:
		return nil, errors.New("blobstore: no storage configured (connection string or blob service URL)")
	}
	// With a SAS connection string the service URL carries the SAS as its
	// query: blob URLs are recorded in the catalog and answered to callers,
	// so they must be the plain URL, never the secret.
	base := svc.URL()
	if u, err := url.Parse(base); err == nil {
		u.RawQuery, u.ForceQuery, u.Fragment = "", false, ""
		base = u.String()
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	return &Client{svc: svc, base: base, maxRetries: int32(co.Retry.MaxRetries), maxBlocks: MaxBlocks}, nil
}

func (c *Client) container(name string) *container.Client {
	return c.svc.ServiceClient().NewContainerClient(name)
}

// EnsureContainer creates the container if it does not exist yet.
func (c *Client) EnsureContainer(ctx context.Context, name string) error {
	_, err := c.container(name).Create(ctx, nil)
	if err == nil || bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return nil
	}
	return fmt.Errorf("blobstore: create container %s: %w", name, normalize(err))
}

// URL is the full URL of a blob. Each path segment of name is escaped on its
// own so "/" stays a separator, as the portal and other SDKs show it.
func (c *Client) URL(container, name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return c.base + url.PathEscape(container) + "/" + strings.Join(parts, "/")
}

// Requests counts the requests a Client sends, by operation: set one as
// Options.Requests (see azstorage.Requests).
type Requests = azstorage.Requests
