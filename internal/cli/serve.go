package cli

import (
	"context"
	"flag"
	"log/slog"
	"net"

	"github.com/hartonomous/offload/internal/server"
)

func serveCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	addr := fs.String("addr", "", "listen address (default 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT, else 127.0.0.1:7071)")
	return func(ctx context.Context, s *session, args []string) error {
		// The server logs JSON to stdout, where the Functions host collects it.
		s.log = slog.New(slog.NewJSONHandler(s.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		if *addr == "" {
			port := a.Config.HandlerPort
			if port == "" {
				port = "7071"
			}
			*addr = net.JoinHostPort("127.0.0.1", port)
		}
		if err := a.Prepare(ctx); err != nil {
			s.log.Warn("could not prepare containers and queue; functions create them on demand", "err", err)
		}
		s.log.Info("custom handler starting", "addr", *addr, "catalog", a.Catalog.Dialect(), "storage", a.Config.Storage.String())
		srv := server.New(server.Config{Addr: *addr, Logger: s.log, Stderr: s.Stderr}, a.Functions())
		return srv.ListenAndServe(ctx)
	}
}
