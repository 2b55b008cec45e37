package server

import (
	"strings"

	"github.com/labstack/echo/v4"
)

// literalFirst is route r's handler, made to route as ASP.NET does when a
// literal route and r's parameter overlap (messages/drain and
// messages/{queue}). The Functions host picks the function with ASP.NET
// routing, where a literal segment wins over a parameter and literals match
// case-insensitively, then forwards the request at its original path. Echo
// also prefers the literal, but only in its exact case: POST
// api/messages/Drain, which the host gave to DrainOutboxHttp, would reach
// PublishMessage. So a parameter route hands a request whose parameter
// spells another route's literal (in any case) to that route.
func literalFirst(r Route, routes []Route, handlers map[string]echo.HandlerFunc) echo.HandlerFunc {
	own := handlers[r.Function]
	type alt struct {
		param, literal string
		h              echo.HandlerFunc
	}
	var alts []alt
	segs := strings.Split(r.Path, "/")
	for _, o := range routes {
		if o.Function == r.Function || o.Method != r.Method {
			continue
		}
		osegs := strings.Split(o.Path, "/")
		if len(osegs) != len(segs) {
			continue
		}
		diff, param, literal := 0, "", ""
		for i := range segs {
			switch {
			case segs[i] == osegs[i]:
			case strings.HasPrefix(segs[i], ":") && !strings.HasPrefix(osegs[i], ":"):
				diff, param, literal = diff+1, segs[i][1:], osegs[i]
			default:
				diff = 2 // not a literal-for-parameter overlap
			}
		}
		if diff == 1 {
			alts = append(alts, alt{param, literal, handlers[o.Function]})
		}
	}
	if len(alts) == 0 {
		return own
	}
	return func(c echo.Context) error {
		for _, a := range alts {
			if strings.EqualFold(c.Param(a.param), a.literal) {
				c.SetParamNames() // the literal route has no parameter
				c.SetParamValues()
				return a.h(c)
			}
		}
		return own(c)
	}
}
