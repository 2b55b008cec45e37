// Package azstorage holds what the Blob (blobstore) and Queue (broker)
// clients share: the retry policy, the transport option, the Entra ID
// credential, and the reduction of service errors to one line.
package azstorage

import (
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/hartonomous/offload/internal/config"
)

// Retry defaults, applied field by field where Options.Retry is zero. They
// are longer than azcore's (3 retries, 60s) because a staged block is 4 MiB+
// and the service throttles bulk migrations with 503s that clear in seconds.
const (
	DefaultMaxRetries    = 5
	DefaultTryTimeout    = 2 * time.Minute
	DefaultRetryDelay    = 500 * time.Millisecond
	DefaultMaxRetryDelay = 30 * time.Second
)

// Options configure a storage client.
type Options struct {
	// Retry is the azcore retry policy for every request; zero fields take
	// the Default* values above.
	Retry policy.RetryOptions
	// HTTPClient replaces the transport (tests may inject one).
	HTTPClient policy.Transporter
	// Requests, when set, counts every request the client sends.
	Requests *Requests
}

// ClientOptions are the azcore options for opt, which azblob's and
// azqueue's ClientOptions embed.
func (opt Options) ClientOptions() azcore.ClientOptions {
	co := azcore.ClientOptions{Retry: RetryOptions(opt.Retry)}
	if opt.HTTPClient != nil {
		co.Transport = opt.HTTPClient
	}
	if opt.Requests != nil {
		co.PerRetryPolicies = []policy.Policy{opt.Requests}
	}
	return co
}

// RetryOptions is r with its zero fields set to the Default* values.
func RetryOptions(r policy.RetryOptions) policy.RetryOptions {
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

// Credential is the Entra ID credential for identity-based storage: the
// user-assigned managed identity st.ClientID when set (Functions'
// AzureWebJobsStorage__clientId), otherwise DefaultAzureCredential (system
// identity in Azure, the developer's login locally).
func Credential(st config.Storage) (azcore.TokenCredential, error) {
	if st.ClientID != "" {
		return azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(st.ClientID)})
	}
	return azidentity.NewDefaultAzureCredential(nil)
}
