// Command offload is the Offload Function App's custom handler and its
// command line (REFERENCE §5). Started by the Functions host
// (FUNCTIONS_CUSTOMHANDLER_PORT set) or as `offload serve`, it serves the
// functions; otherwise it runs the command it is given.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hartonomous/offload/internal/cli"
	"github.com/hartonomous/offload/internal/config"
)

func main() {
	args := os.Args[1:]
	if len(args) == 0 && os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT") != "" {
		args = []string{"serve"}
	}
	// Settings the environment lacks come from local.settings.json, as
	// `func start` does (under the host they are in the environment).
	getenv := os.Getenv
	if values, err := config.LocalSettings(config.LocalSettingsFile); err != nil {
		fmt.Fprintf(os.Stderr, "offload: %s ignored: %v\n", config.LocalSettingsFile, err)
	} else {
		getenv = config.Overlay(os.Getenv, values)
	}

	// SIGTERM or an interrupt stops gracefully (work in flight finishes
	// or records its failure). The Functions host never sends either (it
	// kills the worker), and it restarts a worker only when it exits
	// non-zero: a stop it did not ask for must not look like a clean exit.
	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, os.Interrupt)
	got := make(chan os.Signal, 1)
	go func() {
		sig := <-signals
		got <- sig
		cancel()
		sig = <-signals // a second one does not wait for the graceful stop
		fmt.Fprintf(os.Stderr, "offload: second %s: exiting at once\n", signalName(sig))
		os.Exit(exitCode(sig))
	}()
	code := cli.Main(ctx, args, cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: getenv})
	select {
	case sig := <-got:
		if code == cli.ExitOK {
			code = exitCode(sig)
		}
		fmt.Fprintf(os.Stderr, "offload: stopped by %s, exit code %d (not a clean exit: the Functions host never sends it, and restarts a worker that exits non-zero)\n", signalName(sig), code)
	default:
	}
	os.Exit(code)
}

// exitCode is the shell's code for a process ended by sig: 128 + its number.
func exitCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case os.Interrupt:
		return "SIGINT"
	}
	return sig.String()
}
