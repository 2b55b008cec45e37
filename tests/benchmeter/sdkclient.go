package benchmeter

import (
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/hartonomous/offload/internal/azstorage"
)

// SDKClient is a plain azblob client for a baseline, with the SDK's own
// defaults; reqs, when set, counts its requests as Offload's are counted
// (below the retry policy), so a baseline's req/item compares with
// Offload's.
func SDKClient(connectionString string, reqs *azstorage.Requests) (*azblob.Client, error) {
	var co *azblob.ClientOptions
	if reqs != nil {
		co = &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{PerRetryPolicies: []policy.Policy{reqs}}}
	}
	return azblob.NewClientFromConnectionString(connectionString, co)
}
