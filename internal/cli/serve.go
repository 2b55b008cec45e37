package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/hartonomous/offload/functions"
	"github.com/hartonomous/offload/internal/app"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/server"
)

// serveClaimTTL bounds a segment claim under the host: a live worker
// renews it every third of it, and a worker the host killed blocks its
// segment only this long, less than the retries of its message take
// (maxDequeueCount × visibilityTimeout).
const serveClaimTTL = time.Minute

func serveCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	addr := fs.String("addr", "", "listen address (default 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT, else 127.0.0.1:7071)")
	root := fs.String("script-root", "", "the Function App folder with host.json (default $AzureWebJobsScriptRoot, else the working directory, where the host starts the handler)")
	return func(ctx context.Context, s *session, args []string) error {
		// The host indexes a function only when every %SETTING% of its
		// trigger resolves; the handler's defaults never reach the host.
		// Say so first, before anything else is looked at.
		defs, err := functions.Definitions()
		if err != nil {
			return err
		}
		if err := config.RequireTriggerSettings(s.Getenv, functions.TriggerSettings(defs)); err != nil {
			return errSettings{err}
		}
		cfg, err := config.Load(s.Getenv)
		if err != nil {
			return errSettings{err}
		}
		dir := *root
		if dir == "" {
			dir = s.Getenv("AzureWebJobsScriptRoot")
		}
		if dir == "" {
			dir = "."
		}
		host, err := config.LoadHost(dir, s.Getenv)
		if err != nil {
			return errSettings{err}
		}
		// The server logs JSON to stdout, where the Functions host collects it.
		s.log = slog.New(slog.NewJSONHandler(s.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
		t := s.tuning
		// An invocation's catalog retries end with its deadline (host.json
		// functionTimeout less a margin), not with the command's budget.
		t.RetryBudget = max(s.retryBudget, host.InvocationDeadline())
		t.ClaimTTL = serveClaimTTL
		if host.FunctionTimeout > 0 {
			t.ClaimTTL = min(t.ClaimTTL, host.FunctionTimeout)
		}
		st, err := app.Start(cfg, host, s.log, t, app.StartOptions{})
		if err != nil {
			return err
		}
		defer st.Close()
		if *addr == "" {
			port := cfg.HandlerPort
			if port == "" {
				port = "7071"
			}
			*addr = net.JoinHostPort("127.0.0.1", port)
		}
		s.log.Info("custom handler starting", "addr", *addr, "catalog", catalogKind(cfg), "storage", cfg.Storage.String(),
			"functionTimeout", host.FunctionTimeout.String(), "invocationDeadline", host.InvocationDeadline().String(),
			"claimTTL", t.ClaimTTL.String(), "pid", os.Getpid())
		srv, err := server.New(server.Config{Addr: *addr, Logger: s.log, Stderr: s.Stderr,
			InvocationTimeout: host.InvocationDeadline()}, defs, st)
		if err != nil {
			return err
		}
		return srv.ListenAndServe(ctx)
	}
}

// catalogKind names the catalog engine without touching it (or its secret).
func catalogKind(cfg config.Config) string {
	if cfg.SQLIsEmbedded() {
		return fmt.Sprintf("sqlite (%s)", cfg.SQLitePath())
	}
	if strings.Contains(strings.ToLower(cfg.SQL), "fedauth=") {
		return "mssql (Entra ID)"
	}
	return "mssql"
}
