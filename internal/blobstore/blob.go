package blobstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
)

// Properties returns the blob's properties and metadata; ErrNotFound when
// the blob or its container does not exist.
func (c *Client) Properties(ctx context.Context, container, name string) (Props, error) {
	resp, err := c.container(container).NewBlobClient(name).GetProperties(ctx, nil)
	if err != nil {
		return Props{}, fmt.Errorf("blobstore: properties %s/%s: %w", container, name, normalize(err))
	}
	return Props{
		Size:         deref(resp.ContentLength),
		ETag:         etag(resp.ETag),
		LastModified: deref(resp.LastModified),
		ContentType:  deref(resp.ContentType),
		ContentMD5:   resp.ContentMD5,
		Metadata:     fromPtrMap(resp.Metadata),
	}, nil
}

// Exists reports whether the blob exists.
func (c *Client) Exists(ctx context.Context, container, name string) (bool, error) {
	_, err := c.Properties(ctx, container, name)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Download streams count bytes of the blob from offset (count 0: to the
// end). The body reconnects after a transient failure, from where it
// stopped and only while the blob keeps the ETag it had when the download
// began (azblob's RetryReader), so a long download never mixes two versions.
// Props.Size is the whole blob's size and Props.ContentMD5 the whole blob's
// Content-MD5, also for a ranged download. The caller closes the body.
func (c *Client) Download(ctx context.Context, container, name string, offset, count int64) (io.ReadCloser, Props, error) {
	if offset < 0 || count < 0 {
		return nil, Props{}, fmt.Errorf("blobstore: download %s/%s: negative range %d+%d", container, name, offset, count)
	}
	resp, err := c.container(container).NewBlobClient(name).DownloadStream(ctx, &blob.DownloadStreamOptions{
		Range: blob.HTTPRange{Offset: offset, Count: count},
	})
	if err != nil {
		return nil, Props{}, fmt.Errorf("blobstore: download %s/%s: %w", container, name, normalize(err))
	}
	p := Props{
		Size:         deref(resp.ContentLength),
		ETag:         etag(resp.ETag),
		LastModified: deref(resp.LastModified),
		ContentType:  deref(resp.ContentType),
		ContentMD5:   resp.BlobContentMD5,
		Metadata:     fromPtrMap(resp.Metadata),
	}
	if total, ok := rangeTotal(deref(resp.ContentRange)); ok {
		p.Size = total
	} else if p.ContentMD5 == nil {
		// Whole blob: Content-MD5 is the blob's own.
		p.ContentMD5 = resp.ContentMD5
	}
	body := resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: c.maxRetries})
	return body, p, nil
}

// rangeTotal parses the total of "bytes 0-99/1234".
func rangeTotal(cr string) (int64, bool) {
	i := strings.LastIndexByte(cr, '/')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(cr[i+1:], 10, 64)
	return n, err == nil
}

// Delete removes the blob and its snapshots. ErrNotFound when it does not
// exist; with ifMatch, ErrConflict when the blob has another ETag.
func (c *Client) Delete(ctx context.Context, container, name, ifMatch string) error {
	_, err := c.container(container).NewBlobClient(name).Delete(ctx, &blob.DeleteOptions{
		DeleteSnapshots:  to.Ptr(blob.DeleteSnapshotsOptionTypeInclude),
		AccessConditions: ifMatchCondition(ifMatch),
	})
	if err != nil {
		return fmt.Errorf("blobstore: delete %s/%s: %w", container, name, normalize(err))
	}
	return nil
}

// SetMetadata replaces the blob's metadata (all of it, as the service
// does) and returns the new ETag. With ifMatch, ErrConflict when the blob
// has another ETag.
func (c *Client) SetMetadata(ctx context.Context, container, name string, md map[string]string, ifMatch string) (string, error) {
	resp, err := c.container(container).NewBlobClient(name).SetMetadata(ctx, toPtrMap(md), &blob.SetMetadataOptions{
		AccessConditions: ifMatchCondition(ifMatch),
	})
	if err != nil {
		return "", fmt.Errorf("blobstore: set metadata %s/%s: %w", container, name, normalize(err))
	}
	return etag(resp.ETag), nil
}

func ifMatchCondition(ifMatch string) *blob.AccessConditions {
	if ifMatch == "" {
		return nil
	}
	return &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: to.Ptr(azcore.ETag(ifMatch))}}
}

func toPtrMap(m map[string]string) map[string]*string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = to.Ptr(v)
	}
	return out
}

func fromPtrMap(m map[string]*string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v != nil {
			out[k] = *v
		} else {
			out[k] = ""
		}
	}
	return out
}

func etag(e *azcore.ETag) string {
	if e == nil {
		return ""
	}
	return string(*e)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
