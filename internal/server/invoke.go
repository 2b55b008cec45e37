package server

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/hostproto"
)

// queueInvocation adapts a QueueFunc to the host's invocation envelope.
func (s *Server) queueInvocation(r Route, fn QueueFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		inv, err := s.decode(c)
		if err != nil {
			return badInvocation(c, err)
		}
		body, err := inv.QueueMessage(r.Binding)
		if err != nil {
			return badInvocation(c, err)
		}
		meta := inv.QueueMeta(body)
		if len(meta.Shadowed) > 0 || len(meta.Unreadable) > 0 {
			s.log.Info("queue metadata left out: the message's own properties overwrote them, or they were unreadable",
				"function", r.Function, "shadowed", meta.Shadowed, "unreadable", meta.Unreadable)
		}
		start := time.Now()
		return s.reply(c, r, start, fn(c.Request().Context(), body, meta))
	}
}

// timerInvocation adapts a TimerFunc to the host's invocation envelope.
func (s *Server) timerInvocation(r Route, fn TimerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		inv, err := s.decode(c)
		if err != nil {
			return badInvocation(c, err)
		}
		t, err := inv.Timer(r.Binding)
		if err != nil {
			return badInvocation(c, err)
		}
		if t.IsPastDue {
			s.log.Warn("timer is past due: this run stands in for a missed occurrence",
				"function", r.Function, "invocationId", inv.InvocationID())
		}
		start := time.Now()
		return s.reply(c, r, start, fn(c.Request().Context(), t))
	}
}

func (s *Server) decode(c echo.Context) (hostproto.Invocation, error) {
	inv, err := hostproto.DecodeInvocation(c.Request().Body, s.cfg.MaxInvocationBytes)
	if err != nil {
		return inv, err
	}
	inv.HeaderInvocationID = c.Request().Header.Get(hostproto.InvocationIDHeader)
	return inv, nil
}

// badInvocation answers an envelope the host should never have sent: 413
// when too large, else 400 with the reason. Either fails the invocation.
func badInvocation(c echo.Context, err error) error {
	if errors.Is(err, hostproto.ErrTooLarge) {
		return Error(c, http.StatusRequestEntityTooLarge, "too_large", err.Error())
	}
	if errors.Is(err, hostproto.ErrMalformed) {
		return Error(c, http.StatusBadRequest, "bad_invocation", err.Error())
	}
	return err // a read failure: the HTTPErrorHandler answers it
}

// reply answers a function's outcome in the host's reply shape: 200 on
// success, 500 (which fails the invocation) with the reason in Logs.
func (s *Server) reply(c echo.Context, r Route, start time.Time, err error) error {
	took := time.Since(start).Round(time.Millisecond)
	if err != nil {
		cause := err.Error()
		if why := s.deadlineReason(c.Request().Context()); why != "" {
			cause += ": " + why
		}
		reason := fmt.Sprintf("%s failed after %s: %s", r.Function, took, cause)
		c.Set(failureKey, cause)
		return c.JSON(http.StatusInternalServerError, hostproto.Reply{Logs: []string{reason}})
	}
	return c.JSON(http.StatusOK, hostproto.Reply{Logs: []string{fmt.Sprintf("%s succeeded in %s", r.Function, took)}})
}
