package azurite

import (
	"net"
	"strconv"
	"testing"
)

func TestStartStop(t *testing.T) {
	s := StartT(t)
	for _, p := range []int{s.BlobPort, s.QueuePort} {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d: %v", p, err)
		}
		c.Close()
	}
	s.Stop()
	if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.BlobPort)); err == nil {
		c.Close()
		t.Fatalf("blob port %d still open after Stop", s.BlobPort)
	}
}

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
