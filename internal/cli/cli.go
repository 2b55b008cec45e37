// Package cli is Offload's command line: the same jobs as the functions,
// without the Functions host (REFERENCE §5). Every command reads the same
// settings as the functions, has --help, and takes --dry-run when it writes.
// A command that works through many items does all it can, reports each
// failure with its reason, and exits non-zero when any item failed.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/hartonomous/offload/internal/app"
	"github.com/hartonomous/offload/internal/config"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailed  = 1 // the command ran and something failed
	ExitUsage   = 2 // bad command line
	ExitSetting = 3 // a setting is missing or wrong
)

// Env is what a command may touch of the outside world.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         config.Getenv
}

// errUsage marks command-line mistakes (exit 2).
var errUsage = errors.New("usage")

// errSettings marks configuration mistakes (exit 3).
type errSettings struct{ err error }

func (e errSettings) Error() string { return e.err.Error() }
func (e errSettings) Unwrap() error { return e.err }

// command is a node of the command tree: a group (subs) or a leaf (run).
type command struct {
	name    string
	summary string
	usage   string // arguments after the name, for help
	subs    []*command
	// flags declares the leaf's flags on fs; run gets the parsed values
	// through the closure it returns.
	flags func(fs *flag.FlagSet) func(ctx context.Context, e *session, args []string) error
}

// session is one command invocation: its env, logger and (lazily) the app.
type session struct {
	Env
	verbose bool
	log     *slog.Logger
	app     *app.App
	tuning  app.Tuning
	// retryBudget is --retry-budget: how long one catalog operation
	// retries a transient fault before the command fails.
	retryBudget time.Duration
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, env Env) int {
	root := tree()
	if len(args) == 0 {
		printHelp(env.Stdout, root, nil)
		return ExitUsage
	}
	cmd, path, rest := find(root, args)
	if cmd.flags == nil {
		if len(rest) > 0 && !isHelp(rest[0]) {
			fmt.Fprintf(env.Stderr, "offload: unknown command %q\n\n", strings.Join(append(path, rest[0]), " "))
			printHelp(env.Stderr, cmd, path)
			return ExitUsage
		}
		printHelp(env.Stdout, cmd, path)
		if len(rest) > 0 {
			return ExitOK
		}
		return ExitUsage
	}
	fs := flag.NewFlagSet("offload "+strings.Join(path, " "), flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	s := &session{Env: env}
	fs.BoolVar(&s.verbose, "verbose", false, "log every step (JSON lines on stderr)")
	fs.DurationVar(&s.retryBudget, "retry-budget", 3*time.Minute,
		"how long a catalog operation retries transient faults (failover, throttling) before the command fails")
	run := cmd.flags(fs)
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: offload %s [flags] %s\n\n%s\n\nFlags:\n", strings.Join(path, " "), cmd.usage, cmd.summary)
		printFlags(w, fs)
	}
	// The flag package calls Usage itself on -h and on a bad flag; the
	// help is printed here instead, once, on stdout for --help and on
	// stderr after a mistake.
	fs.Usage = func() {}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(env.Stdout)
			return ExitOK
		}
		fmt.Fprintln(env.Stderr)
		usage(env.Stderr)
		return ExitUsage
	}
	level := slog.LevelWarn
	if s.verbose {
		level = slog.LevelInfo
	}
	s.log = slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	defer func() {
		if s.app != nil {
			s.app.Close()
		}
	}()
	err := run(ctx, s, fs.Args())
	var se errSettings
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(env.Stderr, "offload %s: %v\n", strings.Join(path, " "), err)
		return ExitUsage
	case errors.As(err, &se):
		for _, line := range strings.Split(se.Error(), "\n") {
			fmt.Fprintf(env.Stderr, "offload: setting: %s\n", line)
		}
		return ExitSetting
	default:
		fmt.Fprintf(env.Stderr, "offload %s: %v\n", strings.Join(path, " "), err)
		return ExitFailed
	}
}

// printFlags lists fs's flags as the usage line spells them, --name (the
// flag package accepts one dash or two).
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, text := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		if def := f.DefValue; def != "" && def != "false" && def != "0" {
			if name == "string" {
				def = strconv.Quote(def)
			}
			text += " (default " + def + ")"
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, strings.ReplaceAll(text, "\n", "\n    \t"))
	})
}

func isHelp(s string) bool { return s == "-h" || s == "--help" || s == "-help" || s == "help" }

// find walks the tree as far as the args name commands.
func find(root *command, args []string) (*command, []string, []string) {
	cmd, path := root, []string{}
	for len(args) > 0 {
		var next *command
		for _, c := range cmd.subs {
			if c.name == args[0] {
				next = c
			}
		}
		if next == nil {
			break
		}
		cmd, path, args = next, append(path, next.name), args[1:]
	}
	return cmd, path, args
}

func printHelp(w io.Writer, c *command, path []string) {
	name := strings.TrimSpace("offload " + strings.Join(path, " "))
	if len(path) == 0 {
		fmt.Fprintln(w, "Offload moves Hartonomous tensor payloads, model files, CLR file I/O and Service Broker")
		fmt.Fprintln(w, "messaging off SQL Server-only features onto Azure Blob Storage and Storage Queues.")
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, c.summary)
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Usage: %s <command> [flags]\n\nCommands:\n", name)
	for _, s := range c.subs {
		fmt.Fprintf(w, "  %-10s %s\n", s.name, s.summary)
	}
	fmt.Fprintf(w, "\nRun '%s <command> --help' for its flags. Settings are read from the environment and local.settings.json: docs/REFERENCE.md §2.\n", name)
}

// App opens the wired application once per session, from the settings.
func (s *session) App(ctx context.Context) (*app.App, error) {
	if s.app != nil {
		return s.app, nil
	}
	cfg, err := config.Load(s.Getenv)
	if err != nil {
		return nil, errSettings{err}
	}
	t := s.tuning
	t.RetryBudget = s.retryBudget
	a, err := app.Open(ctx, cfg, s.log, t)
	if err != nil {
		return nil, err
	}
	s.app = a
	return a, nil
}
