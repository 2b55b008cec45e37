package segments

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hartonomous/offload/internal/blobstore"
	"github.com/hartonomous/offload/internal/catalog"
)

// Orphan is a blob under the tensors container that no row references.
type Orphan struct {
	Name         string    `json:"name"`
	Size         int64     `json:"sizeBytes"`
	LastModified time.Time `json:"lastModified"`
	Reason       string    `json:"reason"`
	Deleted      bool      `json:"deleted"`
}

// OrphanParams: deletion needs Delete and a positive OlderThan, so a blob
// being written right now (committed, row not yet updated) is never deleted.
type OrphanParams struct {
	Delete    bool
	OlderThan time.Duration
}

// Orphans lists blobs that no LayerTensorSegments row references. Listing is
// in name order, so rows are loaded one layer at a time.
func (s *Service) Orphans(ctx context.Context, p OrphanParams, fn func(Orphan)) error {
	if p.Delete && p.OlderThan <= 0 {
		return errors.New("segments: orphans: --delete needs --older-than DURATION (e.g. 24h)")
	}
	var (
		curLayer int64 = -1
		layer    map[int64]catalog.Segment
		errs     []error
	)
	cutoff := s.now().Add(-p.OlderThan)
	err := s.cfg.Blobs.List(ctx, s.cfg.Container, "", "", func(it blobstore.Item) error {
		model, layerID, ordinal, ok := parseBlobName(it.Name)
		o := Orphan{Name: it.Name, Size: it.Size, LastModified: it.LastModified}
		switch {
		case !ok:
			o.Reason = "name is not {ModelId}/{LayerId}/{SegmentOrdinal}.bin"
		default:
			if layerID != curLayer {
				m, err := s.loadLayer(ctx, layerID)
				if err != nil {
					return err
				}
				curLayer, layer = layerID, m
			}
			seg, found := layer[ordinal]
			switch {
			case !found:
				o.Reason = "no segment row"
			case seg.ModelID != model:
				o.Reason = "segment belongs to another model"
			case seg.BlobURI == "":
				o.Reason = "row does not point at a blob (migration in progress or reset)"
			default:
				return nil // referenced
			}
		}
		if p.Delete && it.LastModified.Before(cutoff) {
			if err := s.cfg.Blobs.Delete(ctx, s.cfg.Container, it.Name, it.ETag); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
				errs = append(errs, fmt.Errorf("delete %s: %w", it.Name, err))
			} else {
				o.Deleted = true
			}
		}
		fn(o)
		return nil
	})
	return errors.Join(err, errors.Join(errs...))
}

func (s *Service) loadLayer(ctx context.Context, layerID int64) (map[int64]catalog.Segment, error) {
	m := map[int64]catalog.Segment{}
	err := s.page(ctx, catalog.SegmentFilter{LayerID: layerID}, 0, func(page []catalog.Segment) error {
		for _, seg := range page {
			m[seg.SegmentOrdinal] = seg
		}
		return nil
	})
	return m, err
}

func parseBlobName(name string) (model, layer, ordinal int64, ok bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 3 || !strings.HasSuffix(parts[2], ".bin") {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	model, err1 = strconv.ParseInt(parts[0], 10, 64)
	layer, err2 = strconv.ParseInt(parts[1], 10, 64)
	ordinal, err3 = strconv.ParseInt(strings.TrimSuffix(parts[2], ".bin"), 10, 64)
	return model, layer, ordinal, err1 == nil && err2 == nil && err3 == nil
}
