package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/hartonomous/offload/internal/dashboard"
)

// dashboardCmd serves the live migration page locally, at the same paths
// the Function App serves it (api/dashboard, api/dashboard/data), against
// the configured catalog and storage, or what `offload run` left in
// .offload when nothing is configured. Like `func start`, it asks for no
// function key: it listens on loopback unless told otherwise.
func dashboardCmd(fs *flag.FlagSet) func(context.Context, *session, []string) error {
	addr := fs.String("addr", "127.0.0.1:7072", "listen address")
	return func(ctx context.Context, s *session, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
		}
		stop, err := useLocalDefaults(ctx, s)
		if err != nil {
			return err
		}
		defer stop()
		a, err := s.App(ctx)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return fmt.Errorf("dashboard: listen on %s: %w", *addr, err)
		}
		srv := &http.Server{Handler: dashboardMux(a.Dashboard), ReadHeaderTimeout: 10 * time.Second}
		fmt.Fprintf(s.Stdout, "dashboard: http://%s/api/dashboard (its data: /api/dashboard/data); Ctrl-C stops it\n", ln.Addr())
		go func() {
			<-ctx.Done()
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("dashboard: %w", err)
		}
		return ctx.Err()
	}
}

// commandName is how the user started this binary (bin/offload after make
// run), for the hint that names the dashboard command.
func commandName() string {
	if len(os.Args) > 0 && os.Args[0] != "" {
		return os.Args[0]
	}
	return "offload"
}

// dashboardMux routes the page's two paths (and / to the page).
func dashboardMux(d *dashboard.Service) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/api/dashboard", http.StatusFound)
	})
	mux.HandleFunc("/api/dashboard", func(w http.ResponseWriter, r *http.Request) { d.Serve(w, r, dashboard.ViewPage) })
	mux.HandleFunc("/api/dashboard/{view}", func(w http.ResponseWriter, r *http.Request) { d.Serve(w, r, r.PathValue("view")) })
	return mux
}
