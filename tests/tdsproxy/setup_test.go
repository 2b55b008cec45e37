package tdsproxy

import (
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer answers every request message with a two-packet reply
// ("ok" split in two) and counts the requests it received: enough TDS to
// see what the proxy forwards, drops and cuts, without an engine.
type fakeServer struct {
	ln       net.Listener
	requests atomic.Int64
	texts    chan string
}

func startFake(t *testing.T) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{ln: ln, texts: make(chan string, 100)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go f.serve(c)
		}
	}()
	return f
}

func (f *fakeServer) serve(c net.Conn) {
	defer c.Close()
	for {
		pkt, err := readPacket(c)
		if err != nil {
			return
		}
		if !pkt.eom() {
			continue
		}
		f.requests.Add(1)
		for i, part := range []string{"o", "k"} {
			status := byte(0)
			if i == 1 {
				status = statusEOM
			}
			if _, err := c.Write(frame(typeReply, status, []byte(part))); err != nil {
				return
			}
		}
	}
}

// frame is one packet of type t.
func frame(t, status byte, data []byte) []byte {
	p := make([]byte, headerLen, headerLen+len(data))
	p[0], p[1] = t, status
	binary.BigEndian.PutUint16(p[2:4], uint16(headerLen+len(data)))
	return append(p, data...)
}

// setup starts a fake server and a proxy in front of it.
func setup(t *testing.T, cfg Config) (*Proxy, *fakeServer) {
	t.Helper()
	f := startFake(t)
	cfg.Target = f.ln.Addr().String()
	p, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, f
}

// client is a raw TDS client of the proxy.
type client struct {
	t *testing.T
	c net.Conn
}

func dial(t *testing.T, p *Proxy) *client {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // a hung proxy fails the test instead of hanging it
	return &client{t: t, c: c}
}

// batch sends a SQL batch of sql and returns the reply's data, or the
// error that ended it.
func (cl *client) batch(sql string) ([]byte, error) {
	if _, err := cl.c.Write(frame(typeSQLBatch, statusEOM, utf16le(sql))); err != nil {
		return nil, err
	}
	var out []byte
	for {
		pkt, err := readPacket(cl.c)
		if err != nil {
			return out, err
		}
		out = append(out, pkt.data()...)
		if pkt.eom() {
			return out, nil
		}
	}
}
