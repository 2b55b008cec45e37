package functions

import (
	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/server"
)

func init() { register("Dashboard", Dashboard) }

// Dashboard is GET api/dashboard, the live migration page, and GET
// api/dashboard/data, its numbers as JSON (the route's optional {view}).
func Dashboard(d Deps) server.Entry {
	if d.Dashboard == nil {
		return server.Entry{}
	}
	return server.Entry{HTTP: func(c echo.Context) error {
		d.Dashboard.Serve(c.Response(), c.Request(), c.Param("view"))
		return nil
	}}
}
