package azuritetest

import (
	"net"
	"strconv"
	"testing"
)

// TestShared checks that Get starts one server and hands the same one to
// every caller; the test stops it itself, as this package has no Main.
func TestShared(t *testing.T) {
	var sh Shared
	s := sh.Get(t)
	t.Cleanup(s.Stop)
	if again := sh.Get(t); again != s {
		t.Fatalf("second Get = %p, first %p: want the same server", again, s)
	}
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.BlobPort))
	if err != nil {
		t.Fatalf("blob port %d: %v", s.BlobPort, err)
	}
	c.Close()
}
