package azurite

import (
	"context"
	"testing"
)

// StartT starts Azurite for a test (or benchmark) and stops it in Cleanup.
// The test fails when Azurite cannot start: tests that need storage never
// silently skip.
func StartT(tb testing.TB) *Server {
	tb.Helper()
	s, err := Start(context.Background(), Options{})
	if err != nil {
		tb.Fatalf("start azurite: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}
