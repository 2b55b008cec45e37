package functions

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/hostproto"
	"github.com/hartonomous/offload/internal/outbox"
	"github.com/hartonomous/offload/internal/server"
)

func init() {
	register("DrainOutbox", DrainOutbox)
	register("DrainOutboxHttp", DrainOutboxHTTP)
}

// DrainOutbox is the timer-triggered function (%OUTBOX_SCHEDULE%): it moves
// committed rows of dbo.OffloadOutbox to their queues until nothing is left
// to send (outbox.DefaultBudget at most).
func DrainOutbox(d Deps) server.Entry {
	if d.Outbox == nil {
		return server.Entry{}
	}
	return server.Entry{Timer: func(ctx context.Context, _ hostproto.TimerInfo) error {
		_, err := d.Outbox.Drain(ctx, outbox.DrainParams{})
		return err
	}}
}

// KickBudget bounds a drain run by POST api/messages/drain by default: the
// caller (T-SQL after its commit) waits for the answer; the timer takes
// whatever is left.
const KickBudget = 10 * time.Second

// maxKickBudget stays under sp_invoke_external_rest_endpoint's 230 s.
const maxKickBudget = 200 * time.Second

// DrainOutboxHTTP is POST api/messages/drain (function DrainOutboxHttp),
// the kick T-SQL sends after a commit so the message leaves at once rather
// than at the next timer. Body (optional): {"budgetSeconds"?: 1..200,
// "dryRun"?: bool}. Answers the drain's result. DrainOutbox has two
// triggers and a function has one: the HTTP kick is a function of its own,
// whose literal route wins over PublishMessage's messages/{queue} as in
// ASP.NET.
func DrainOutboxHTTP(d Deps) server.Entry {
	if d.Outbox == nil {
		return server.Entry{}
	}
	return server.Entry{HTTP: drainOutboxHTTP(d)}
}

func drainOutboxHTTP(d Deps) echo.HandlerFunc {
	return func(c echo.Context) error {
		var body struct {
			BudgetSeconds float64 `json:"budgetSeconds"`
			DryRun        bool    `json:"dryRun"`
		}
		if err := bindJSON(c, &body); err != nil {
			return server.Error(c, http.StatusBadRequest, "bad_request", `body must be {"budgetSeconds"?, "dryRun"?}: `+err.Error())
		}
		budget := KickBudget
		if body.BudgetSeconds != 0 {
			budget = time.Duration(body.BudgetSeconds * float64(time.Second))
			if budget <= 0 || budget > maxKickBudget {
				return server.Error(c, http.StatusBadRequest, "bad_request", "budgetSeconds must be between 0 and 200")
			}
		}
		res, err := d.Outbox.Drain(c.Request().Context(), outbox.DrainParams{Budget: budget, DryRun: body.DryRun})
		if err != nil {
			d.Logger.Error("outbox drain failed", "err", err)
			return server.Error(c, http.StatusInternalServerError, "drain_failed", err.Error())
		}
		return c.JSON(http.StatusOK, res)
	}
}
