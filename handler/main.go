// Command offload is the Offload Function App's custom handler and its
// command line (CONTRACT §5). Started by the Functions host
// (FUNCTIONS_CUSTOMHANDLER_PORT set) or as `offload serve`, it serves the
// functions; otherwise it runs the command it is given.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/hartonomous/offload/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	args := os.Args[1:]
	if len(args) == 0 && os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT") != "" {
		args = []string{"serve"}
	}
	code := cli.Main(ctx, args, cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}
