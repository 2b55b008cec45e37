package functions

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/server"
)

// SegmentStatus is GET api/segments/status: counts and bytes by state, per
// model, with the last verification time, throughput and ETA.
func SegmentStatus(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		st, err := d.Segments.Status(c.Request().Context())
		if err != nil {
			d.Logger.Error("status failed", "err", err)
			return server.Error(c, http.StatusInternalServerError, "status_failed", err.Error())
		}
		return c.JSON(http.StatusOK, st)
	}
}
