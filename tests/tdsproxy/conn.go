package tdsproxy

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Kinds of the proxy's own: cutNext is ResetMidReply's second step (cut
// the reply's next packet); down starts a DownAt outage.
const (
	cutNext = numKinds + iota
	down
)

// conn is one client connection and its server connection. TDS is
// request-reply: the client pump decides the fault of each request and,
// for the faults that spoil the reply, tells the server pump, which applies
// it to the next reply.
type conn struct {
	p              *Proxy
	client, server net.Conn
	wmu            sync.Mutex   // writes to client (the pumps and forged replies)
	reply          atomic.Int32 // Kind to apply to the next reply
	once           sync.Once
}

func (p *Proxy) serve(cl net.Conn) {
	sv, err := net.DialTimeout("tcp", p.cfg.Target, 5*time.Second)
	if err != nil {
		resetConn(cl)
		return
	}
	c := &conn{p: p, client: cl, server: sv}
	if !p.track(c, true) {
		c.reset()
		return
	}
	defer p.track(c, false)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.replies()
	}()
	c.requests()
	<-done
}

// reset drops both sides: the client sees a reset, the server a closed
// connection (and rolls back what was not committed).
func (c *conn) reset() {
	c.once.Do(func() {
		resetConn(c.client)
		resetConn(c.server)
	})
}

// requests forwards the client's packets, deciding each request's fault on
// its first packet.
func (c *conn) requests() {
	defer c.reset()
	first := true
	for {
		pkt, err := readPacket(c.client)
		if err != nil {
			return
		}
		if first && isRequest(pkt.typ()) {
			switch c.inject(pkt) {
			case down:
				c.p.SetDown(true) // resets this connection too
				return
			case ResetBeforeForward:
				c.p.log.Info("tdsproxy: fault", "kind", ResetBeforeForward.String())
				return
			case AzureError: // answered by the proxy: the rest of the request goes nowhere
				if !pkt.eom() && !c.skipMessage() {
					return
				}
				continue
			}
		}
		first = pkt.eom()
		if _, err := c.server.Write(pkt); err != nil {
			return
		}
	}
}

// inject applies the fault of a request and returns it: an AzureError is
// answered here (the request must not be forwarded), a ResetBeforeForward
// is the caller's to apply, the reply faults are left for the reply pump.
func (c *conn) inject(pkt packet) Kind {
	k, ae, frac := c.p.decide(pkt)
	switch k {
	case AzureError:
		c.p.log.Info("tdsproxy: fault", "kind", k.String(), "number", ae.Number)
		c.wmu.Lock()
		_, err := c.client.Write(errorReply(ae.Number, ae.Class, ae.Message, "tdsproxy"))
		c.wmu.Unlock()
		if err != nil {
			c.reset()
		}
	case Delay:
		time.Sleep(time.Duration(frac * float64(c.p.cfg.MaxDelay)))
	case ResetAfterApply, ResetMidReply:
		c.reply.Store(int32(k))
	}
	return k
}

// skipMessage reads and drops the rest of a request message.
func (c *conn) skipMessage() bool {
	for {
		pkt, err := readPacket(c.client)
		if err != nil {
			return false
		}
		if pkt.eom() {
			return true
		}
	}
}

// replies forwards the server's packets, spoiling a reply when told to.
func (c *conn) replies() {
	defer c.reset()
	for {
		pkt, err := readPacket(c.server)
		if err != nil {
			return
		}
		if pkt.typ() == typeReply {
			switch Kind(c.reply.Swap(int32(None))) {
			case ResetAfterApply:
				for !pkt.eom() { // the server finishes its answer; nobody hears it
					if pkt, err = readPacket(c.server); err != nil {
						return
					}
				}
				c.p.log.Info("tdsproxy: fault", "kind", ResetAfterApply.String())
				return
			case ResetMidReply:
				if !pkt.eom() { // a reply of several packets: the first arrives whole
					c.reply.Store(int32(cutNext))
					break
				}
				fallthrough
			case cutNext:
				c.wmu.Lock()
				_, _ = c.client.Write(pkt[:len(pkt)/2])
				c.wmu.Unlock()
				c.p.log.Info("tdsproxy: fault", "kind", ResetMidReply.String())
				return
			}
		}
		c.wmu.Lock()
		_, err = c.client.Write(pkt)
		c.wmu.Unlock()
		if err != nil {
			return
		}
	}
}
