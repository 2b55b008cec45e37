// Package testenv is the scaffolding the end-to-end test packages share:
// the real offload binary built once per test binary, one Azurite, the
// environment a run of the binary gets, and the handler started the way
// the Functions host starts it. It holds non-test files so that every test
// package under tests/ can import it.
package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hartonomous/offload/internal/azurite"
)

// handlerPkg is built by import path, so Main works from any directory of
// the module.
const handlerPkg = "github.com/hartonomous/offload/handler"

// Main is a TestMain body: it builds the real binary into a temp dir, starts
// one Azurite (starting one costs seconds), hands both to setup so the test
// package keeps them in its own variables, runs the tests, then stops
// Azurite, removes the dir and exits with the tests' code. A failed build or
// start is reported on stderr and exits 1.
func Main(m *testing.M, setup func(bin string, az *azurite.Server)) {
	code, err := run(m, setup)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// run is Main without the exit, so the deferred cleanups run.
func run(m *testing.M, setup func(bin string, az *azurite.Server)) (int, error) {
	dir, err := os.MkdirTemp("", "offload-e2e-*")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "offload")
	build := exec.Command("go", "build", "-o", bin, handlerPkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return 0, fmt.Errorf("build offload: %w", err)
	}
	az, err := azurite.Start(context.Background(), azurite.Options{})
	if err != nil {
		return 0, fmt.Errorf("azurite: %w", err)
	}
	defer az.Stop()
	setup(bin, az)
	return m.Run(), nil
}
