// Package azuritetest starts Azurite for tests and benchmarks. It is a
// package of its own so that the binary, which starts Azurite for
// `offload run` through package azurite, does not link the testing package.
package azuritetest

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/hartonomous/offload/internal/azurite"
)

// StartT starts Azurite for a test (or benchmark) and stops it in Cleanup.
// The test fails when Azurite cannot start: tests that need storage never
// silently skip.
func StartT(tb testing.TB) *azurite.Server {
	tb.Helper()
	s, err := azurite.Start(context.Background(), azurite.Options{})
	if err != nil {
		tb.Fatalf("start azurite: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Shared is the one Azurite of a test binary. The first test that asks for
// it starts it (node costs a second or two, and tests that need no storage,
// such as pure tests and fuzz seeds, never pay for it); Main stops it after
// the tests. Tests that need storage fail, never skip, when it cannot start.
//
// Use it as a package variable with TestMain calling Main:
//
//	var az azuritetest.Shared
//	func TestMain(m *testing.M) { az.Main(m) }
type Shared struct {
	once sync.Once
	srv  *azurite.Server
	err  error
}

// Get returns the shared server, starting it on first use. A failed start
// is remembered, so every later test fails fast instead of retrying.
func (s *Shared) Get(tb testing.TB) *azurite.Server {
	tb.Helper()
	s.once.Do(func() { s.srv, s.err = azurite.Start(context.Background(), azurite.Options{}) })
	if s.err != nil {
		tb.Fatalf("start azurite: %v", s.err)
	}
	return s.srv
}

// Main runs the tests, stops the server if a test started it, and exits
// with the tests' code (os.Exit skips deferred calls, hence no defer).
func (s *Shared) Main(m *testing.M) {
	code := m.Run()
	if s.srv != nil {
		s.srv.Stop()
	}
	os.Exit(code)
}
