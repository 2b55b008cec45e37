package blobstore

import (
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/hartonomous/offload/internal/azstorage"
)

// normalize maps the service's answers onto ErrNotFound / ErrConflict and
// shortens response errors to one line; other errors (network, context)
// pass unchanged.
func normalize(err error) error { return azstorage.Normalize(err, classify) }

func classify(err error, re *azcore.ResponseError) error {
	switch {
	case bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) || re.StatusCode == http.StatusNotFound:
		return ErrNotFound
	case bloberror.HasCode(err, bloberror.ConditionNotMet, bloberror.BlobAlreadyExists) ||
		re.StatusCode == http.StatusPreconditionFailed || re.StatusCode == http.StatusConflict:
		return ErrConflict
	}
	return nil
}

// containerMissing tells a missing container from a missing blob.
func containerMissing(err error) bool {
	return bloberror.HasCode(err, bloberror.ContainerNotFound)
}
