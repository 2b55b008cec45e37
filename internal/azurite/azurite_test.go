package azurite

import (
	"context"
	"net"
	"strconv"
	"testing"
)

func TestStartStop(t *testing.T) {
	s, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatalf("start azurite: %v", err)
	}
	defer s.Stop()
	if len(s.Pids) != 2 {
		t.Fatalf("pids %v: want one per service", s.Pids)
	}
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
