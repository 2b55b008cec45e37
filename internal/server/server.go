// Package server is the custom handler's web server (REFERENCE §3, §6): an
// Echo app that answers the Functions host's readiness poll, its invocation
// envelopes for the queue and timer functions, and the HTTP requests it
// forwards to the HTTP functions. Its routes come from the functions'
// function.json files (hostproto.Definition), the one place that states
// them.
//
// It owns the protocol, not the work: each function's entry point is an
// Entry of Functions, and a function without one answers 501. Every response that is not a
// success is {"error": "...", "code": "..."} JSON, except an invocation whose
// function failed, which gets the host's reply shape with the reason in Logs
// (and on stderr, because the host drops the Logs of failed invocations).
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/hostproto"
)

// Config configures a Server. Zero values take the defaults.
type Config struct {
	// Addr is the listen address, 127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT
	// under the host. Default 127.0.0.1:7071.
	Addr string
	// Logger receives one JSON line per invocation. Default: discard.
	Logger *slog.Logger
	// Stderr receives one slog JSON line per failed invocation, so failures
	// reach the host's logs even though it drops their reply. Default
	// os.Stderr.
	Stderr io.Writer
	// MaxInvocationBytes caps an invocation envelope. Default 1 MiB.
	MaxInvocationBytes int64
	// ShutdownTimeout bounds the graceful shutdown. Default 30s.
	ShutdownTimeout time.Duration
	// AbortGrace is how long handlers still running at ShutdownTimeout get,
	// once their context is cancelled, to record their failure and drop
	// their claims before the connections are cut. Default 5s.
	AbortGrace time.Duration
	// InvocationTimeout is every function's deadline, a margin below
	// host.json's functionTimeout (config.Host.InvocationDeadline): the
	// host kills the whole worker when one invocation outlives
	// functionTimeout, so each must record its failure, drop its claim and
	// answer first. 0: no deadline.
	InvocationTimeout time.Duration
}

// Defaults of Config.
const (
	DefaultAddr               = "127.0.0.1:7071"
	DefaultMaxInvocationBytes = 1 << 20
	DefaultShutdownTimeout    = 30 * time.Second
	DefaultAbortGrace         = 5 * time.Second
)

// ErrShutdownDeadline is the cause of a handler's context cancelled
// because the handler outlived the graceful shutdown.
var ErrShutdownDeadline = errors.New("server: shutting down: the request outlived the graceful shutdown")

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if c.MaxInvocationBytes <= 0 {
		c.MaxInvocationBytes = DefaultMaxInvocationBytes
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.AbortGrace <= 0 {
		c.AbortGrace = DefaultAbortGrace
	}
	return c
}

// Server serves the functions. Build it with New.
type Server struct {
	cfg    Config
	log    *slog.Logger
	errLog *slog.Logger
	e      *echo.Echo
	fns    Provider
	routes []Route
}

// New builds the Echo app: readiness at GET/HEAD /, then a route for each
// function of defs (its function.json) as the host reaches it, dispatched
// to the entry point p has for it. The functions may become available
// later (their catalog or storage is not reachable yet): readiness answers
// at once, and a request for a function p cannot give yet waits for it
// within its deadline, then fails 503 with p's reason. An error names a
// function.json the server cannot route as the host does.
func New(cfg Config, defs []hostproto.Definition, p Provider) (*Server, error) {
	routes, err := buildRoutes(defs)
	if err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		errLog: slog.New(slog.NewJSONHandler(cfg.Stderr, nil)),
		e:      echo.New(),
		fns:    p,
		routes: routes,
	}
	s.e.HideBanner = true
	s.e.HidePort = true
	s.e.HTTPErrorHandler = s.handleError
	// Routes match as the host's ASP.NET routing does: literals in any
	// case, a trailing slash allowed.
	s.e.Pre(s.canonicalPath)

	// The host polls GET / until it gets any HTTP answer.
	ready := func(c echo.Context) error {
		if c.Request().Method == http.MethodHead {
			return c.NoContent(http.StatusOK)
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
	}
	s.e.GET("/", ready)
	s.e.HEAD("/", ready)

	handlers := make(map[string]echo.HandlerFunc, len(routes))
	for _, r := range routes {
		handlers[r.Function] = s.observe(r, s.resolve(r))
	}
	for _, r := range routes {
		s.e.Add(r.Method, r.Path, literalFirst(r, routes, handlers))
	}
	return s, nil
}

// Handler is the app as an http.Handler (for httptest and embedding).
func (s *Server) Handler() http.Handler { return s.e }

// ListenAndServe listens on Config.Addr and serves until ctx is done (the
// caller turns SIGTERM into a cancelled ctx), then shuts down gracefully:
// it stops accepting, lets requests in flight finish within
// ShutdownTimeout, and returns nil when they all did. Requests still
// running then have their context cancelled (cause ErrShutdownDeadline)
// and AbortGrace to wind up, as a failure they record themselves (a
// migration drops its claim), rather than being cut off mid-step.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("server: listen on %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is ListenAndServe on a listener the caller opened; it closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	base, abort := context.WithCancelCause(context.WithoutCancel(ctx))
	defer abort(nil)
	hs := &http.Server{
		Handler:           s.e,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// Requests must outlive ctx: cancelling ctx starts a graceful
		// shutdown, it does not abort the work in flight. Only the
		// shutdown's deadline does (abort).
		BaseContext: func(net.Listener) context.Context { return base },
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	s.log.Info("custom handler listening", "addr", ln.Addr().String())

	select {
	case err := <-served:
		return fmt.Errorf("server: serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}

	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		// Requests still running past the deadline are cancelled, given
		// AbortGrace to record it, and then cut off.
		s.log.Warn("requests outlived the graceful shutdown: cancelling them", "grace", s.cfg.AbortGrace.String())
		abort(ErrShutdownDeadline)
		gctx, gcancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.AbortGrace)
		defer gcancel()
		if hs.Shutdown(gctx) != nil {
			_ = hs.Close()
		}
		return fmt.Errorf("server: graceful shutdown within %s: %w", s.cfg.ShutdownTimeout, err)
	}
	s.log.Info("shut down")
	return nil
}
