package functions

import (
	"context"

	"github.com/hartonomous/offload/internal/hostproto"
	"github.com/hartonomous/offload/internal/models"
	"github.com/hartonomous/offload/internal/segments"
	"github.com/hartonomous/offload/internal/server"
)

// VerifySegments is the timer-triggered function (%VERIFY_SCHEDULE%): one
// bounded verification pass over segments and model atoms.
func VerifySegments(d Deps) server.TimerFunc {
	return func(ctx context.Context, t hostproto.TimerInfo) error {
		_, err := d.Segments.Verify(ctx, segments.VerifyParams{IsPastDue: t.IsPastDue}, AtomVerifier(d.Models))
		return err
	}
}

// AtomVerifier adapts the models service to the segments verifier (nil when
// there is no models service).
func AtomVerifier(m *models.Service) segments.AtomVerifier {
	if m == nil {
		return nil
	}
	return func(ctx context.Context, limit int) (int64, int64, error) {
		res, err := m.Verify(ctx, models.VerifyParams{Limit: limit})
		var bad int64
		for _, r := range res {
			if r.Result != "ok" {
				bad++
			}
		}
		return int64(len(res)), bad, err
	}
}
