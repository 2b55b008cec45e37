package atoms

import (
	"context"
	"fmt"
)

// Count is how many atoms (that have a file) are linked, verified ok and
// failed their last verification, and the bytes of their linked blobs.
type Count struct {
	Atoms    int64 `json:"atoms"`
	Linked   int64 `json:"linked"`
	Verified int64 `json:"verified"`
	Failed   int64 `json:"failed"`
	Bytes    int64 `json:"bytes"`
}

func (c Count) add(d Count) Count {
	return Count{c.Atoms + d.Atoms, c.Linked + d.Linked, c.Verified + d.Verified, c.Failed + d.Failed, c.Bytes + d.Bytes}
}

// Status is the atoms section of SegmentStatus: counts by modality.
type Status struct {
	ByModality map[string]Count `json:"byModality"`
	Total      Count            `json:"total"`
}

// Status counts the atoms that have a file, by modality.
func (s *Service) Status(ctx context.Context) (Status, error) {
	rows, err := s.cfg.Catalog.AtomStatus(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("atoms: status: %w", err)
	}
	st := Status{ByModality: map[string]Count{}}
	for _, r := range rows {
		c := Count{Atoms: r.Atoms, Linked: r.Linked, Verified: r.Verified, Failed: r.Failed, Bytes: r.Bytes}
		st.ByModality[r.Modality] = st.ByModality[r.Modality].add(c)
		st.Total = st.Total.add(c)
	}
	return st, nil
}
