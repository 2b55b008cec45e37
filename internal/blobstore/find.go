package blobstore

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Find looks name up with one listing request (prefix name, metadata, and
// blobs that have only uncommitted blocks included), which answers what a
// HEAD answers and also whether an upload that did not commit left blocks
// staged under name:
//
//   - found is false only when nothing at all is stored under name: no
//     blob and no staged block, so an upload needs no Resume (and so no
//     listing of staged blocks of its own);
//   - otherwise the Item is the committed blob, with its size, ETag and
//     metadata, or one with only staged blocks (no metadata: a blob gets
//     its metadata when its block list is committed).
//
// A missing container is ErrNotFound, as for Properties.
func (c *Client) Find(ctx context.Context, containerName, name string) (it Item, found bool, err error) {
	pager := c.container(containerName).NewListBlobsFlatPager(&container.ListBlobsFlatOptions{
		Prefix:     to.Ptr(name),
		Include:    container.ListBlobsInclude{Metadata: true, UncommittedBlobs: true},
		MaxResults: to.Ptr(int32(1)),
	})
	// Names are listed in byte order and every other name under the prefix
	// extends it, so name is the first one if it is there at all. A page
	// may come back empty with a continuation marker: follow it.
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return Item{}, false, fmt.Errorf("blobstore: find %s/%s: %w", containerName, name, normalize(err))
		}
		if page.Segment == nil {
			continue
		}
		for _, b := range page.Segment.BlobItems {
			if it := blobItem(b); it.Name == name {
				return it, true, nil
			}
			return Item{}, false, nil
		}
	}
	return Item{}, false, nil
}
