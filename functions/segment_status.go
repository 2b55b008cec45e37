package functions

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/atoms"
	"github.com/hartonomous/offload/internal/outbox"
	"github.com/hartonomous/offload/internal/segments"
	"github.com/hartonomous/offload/internal/server"
)

func init() { register("SegmentStatus", SegmentStatus) }

// StatusAnswer is GET api/segments/status (and `offload segments status
// --json`): the segments' counts and bytes, the atoms' counts by modality,
// and the outbox's counts.
type StatusAnswer struct {
	segments.Status
	Atoms  *atoms.Status  `json:"atoms,omitempty"`
	Outbox *outbox.Status `json:"outbox,omitempty"`
}

// Status builds the StatusAnswer.
func Status(ctx context.Context, d Deps) (StatusAnswer, error) {
	st, err := d.Segments.Status(ctx)
	if err != nil {
		return StatusAnswer{Status: st}, err
	}
	ans := StatusAnswer{Status: st}
	if d.Atoms != nil {
		at, err := d.Atoms.Status(ctx)
		if err != nil {
			return ans, err
		}
		ans.Atoms = &at
	}
	if d.Outbox != nil {
		ob, err := d.Outbox.Status(ctx)
		if err != nil {
			return ans, err
		}
		ans.Outbox = &ob
	}
	return ans, nil
}

// SegmentStatus is GET api/segments/status: counts and bytes by state, per
// model, with the last verification time, throughput and ETA; the atoms by
// modality (linked, verified, failed, bytes); and the outbox (pending, sent,
// failed, the oldest pending message's age).
func SegmentStatus(d Deps) server.Entry {
	if d.Segments == nil {
		return server.Entry{}
	}
	return server.Entry{HTTP: func(c echo.Context) error {
		st, err := Status(c.Request().Context(), d)
		if err != nil {
			d.Logger.Error("status failed", "err", err)
			return server.Error(c, http.StatusInternalServerError, "status_failed", err.Error())
		}
		return c.JSON(http.StatusOK, st)
	}}
}
