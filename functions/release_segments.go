package functions

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/segments"
	"github.com/hartonomous/offload/internal/server"
)

func init() { register("ReleaseSegments", ReleaseSegments) }

// ReleaseSegments is POST api/segments/release with {"modelId"?, "layerId"?,
// "limit"?, "confirm"?}: without "confirm": true it is a dry run.
func ReleaseSegments(d Deps) server.Entry {
	if d.Segments == nil {
		return server.Entry{}
	}
	return server.Entry{HTTP: releaseSegments(d)}
}

func releaseSegments(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		var p segments.ReleaseParams
		if err := bindJSON(c, &p); err != nil {
			return server.Error(c, http.StatusBadRequest, "bad_request", "body must be {\"modelId\"?, \"layerId\"?, \"limit\"?, \"confirm\"?}: "+err.Error())
		}
		if p.ModelID < 0 || p.LayerID < 0 || p.Limit < 0 {
			return server.Error(c, http.StatusBadRequest, "bad_request", "modelId, layerId and limit must not be negative")
		}
		res, err := d.Segments.Release(c.Request().Context(), p)
		if err != nil {
			d.Logger.Error("release failed", "err", err)
			return server.Error(c, http.StatusInternalServerError, "release_failed", err.Error())
		}
		return c.JSON(http.StatusOK, res)
	}
}
