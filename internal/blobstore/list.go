package blobstore

import (
	"context"
	"fmt"
	"sort"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// List calls fn for each blob under prefix, page by page in name order,
// with metadata; nothing is collected, so a container of millions of blobs
// lists in constant memory. With a delimiter (usually "/") it lists one
// level: blobs, and virtual directories as Items with IsPrefix set. An error
// from fn stops the listing and is returned as is.
func (c *Client) List(ctx context.Context, containerName, prefix, delimiter string, fn func(Item) error) error {
	err := c.list(ctx, containerName, prefix, delimiter, func(it Item) error {
		if err := fn(it); err != nil {
			return stopError{err}
		}
		return nil
	})
	if se, ok := err.(stopError); ok {
		return se.err
	}
	if err != nil {
		return fmt.Errorf("blobstore: list %s/%s: %w", containerName, prefix, err)
	}
	return nil
}

// stopError marks fn's own error, returned by List unwrapped.
type stopError struct{ err error }

func (e stopError) Error() string { return e.err.Error() }

func (c *Client) list(ctx context.Context, containerName, prefix, delimiter string, fn func(Item) error) error {
	cc := c.container(containerName)
	include := container.ListBlobsInclude{Metadata: true}
	var pfx *string
	var max *int32
	if prefix != "" {
		pfx = to.Ptr(prefix)
	}
	if c.listPageSize > 0 {
		max = to.Ptr(c.listPageSize)
	}
	if delimiter == "" {
		pager := cc.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: pfx, Include: include, MaxResults: max})
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return normalize(err)
			}
			if page.Segment == nil {
				continue
			}
			for _, b := range page.Segment.BlobItems {
				if err := fn(blobItem(b)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	pager := cc.NewListBlobsHierarchyPager(delimiter, &container.ListBlobsHierarchyOptions{Prefix: pfx, Include: include, MaxResults: max})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return normalize(err)
		}
		if page.Segment == nil {
			continue
		}
		// The service interleaves prefixes and blobs by name; the SDK splits
		// them, so merge them back for one name-ordered stream.
		items := make([]Item, 0, len(page.Segment.BlobItems)+len(page.Segment.BlobPrefixes))
		for _, p := range page.Segment.BlobPrefixes {
			if p != nil && p.Name != nil {
				items = append(items, Item{Name: *p.Name, IsPrefix: true})
			}
		}
		for _, b := range page.Segment.BlobItems {
			items = append(items, blobItem(b))
		}
		sort.SliceStable(items, func(i, j int) bool { return items[i].Name < items[j].Name })
		for _, it := range items {
			if err := fn(it); err != nil {
				return err
			}
		}
	}
	return nil
}

func blobItem(b *container.BlobItem) Item {
	it := Item{Name: deref(b.Name), Metadata: fromPtrMap(b.Metadata)}
	if p := b.Properties; p != nil {
		it.Size = deref(p.ContentLength)
		it.ETag = etag(p.ETag)
		it.LastModified = deref(p.LastModified)
	}
	return it
}
