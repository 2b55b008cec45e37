package functions

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/segments"
	"github.com/hartonomous/offload/internal/server"
)

func init() { register("EnqueueSegments", EnqueueSegments) }

// EnqueueSegments is POST api/segments/enqueue with the optional body
// {"modelId"?, "layerId"?, "limit"?, "dryRun"?}.
func EnqueueSegments(d Deps) server.Entry {
	if d.Segments == nil {
		return server.Entry{}
	}
	return server.Entry{HTTP: enqueueSegments(d)}
}

func enqueueSegments(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		var p segments.EnqueueParams
		if err := bindJSON(c, &p); err != nil {
			return server.Error(c, http.StatusBadRequest, "bad_request", "body must be {\"modelId\"?, \"layerId\"?, \"limit\"?, \"dryRun\"?}: "+err.Error())
		}
		if p.ModelID < 0 || p.LayerID < 0 || p.Limit < 0 {
			return server.Error(c, http.StatusBadRequest, "bad_request", "modelId, layerId and limit must not be negative")
		}
		res, err := d.Segments.Enqueue(c.Request().Context(), p)
		if err != nil {
			d.Logger.Error("enqueue failed", "err", err)
			return server.Error(c, http.StatusInternalServerError, "enqueue_failed", err.Error())
		}
		return c.JSON(http.StatusOK, res)
	}
}
