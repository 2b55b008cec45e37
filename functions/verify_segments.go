package functions

import (
	"context"

	"github.com/hartonomous/offload/internal/atoms"
	"github.com/hartonomous/offload/internal/hostproto"
	"github.com/hartonomous/offload/internal/segments"
	"github.com/hartonomous/offload/internal/server"
)

func init() { register("VerifySegments", VerifySegments) }

// VerifySegments is the timer-triggered function (%VERIFY_SCHEDULE%): one
// bounded verification pass over segments and linked atoms of every
// modality.
func VerifySegments(d Deps) server.Entry {
	if d.Segments == nil {
		return server.Entry{}
	}
	return server.Entry{Timer: func(ctx context.Context, t hostproto.TimerInfo) error {
		_, err := d.Segments.Verify(ctx, segments.VerifyParams{IsPastDue: t.IsPastDue}, AtomVerifier(d.Atoms))
		return err
	}}
}

// AtomVerifier adapts the atoms service to the segments verifier: it
// verifies linked atoms of every modality, a bounded batch (nil when there
// is no atoms service).
func AtomVerifier(m *atoms.Service) segments.AtomVerifier {
	if m == nil {
		return nil
	}
	return func(ctx context.Context, limit int) (int64, int64, error) {
		res, err := m.Verify(ctx, atoms.VerifyParams{Limit: limit})
		var bad int64
		for _, r := range res {
			if r.Result != "ok" {
				bad++
			}
		}
		return int64(len(res)), bad, err
	}
}
