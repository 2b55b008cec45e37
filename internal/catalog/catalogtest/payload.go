package catalogtest

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
)

// Payload returns size deterministic pseudo-random bytes for seed. The bytes
// are generated as they are read, so a payload of any size costs no memory.
func Payload(seed uint64, size int64) io.Reader {
	return &payload{state: seed*0x9E3779B97F4A7C15 + 1, left: size}
}

type payload struct {
	state uint64
	left  int64
	buf   [8]byte
	nbuf  int // unread bytes at the end of buf
}

func (p *payload) next() uint64 { // splitmix64
	p.state += 0x9E3779B97F4A7C15
	z := p.state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func (p *payload) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n := 0
	for n < len(b) {
		if p.nbuf == 0 {
			binary.LittleEndian.PutUint64(p.buf[:], p.next())
			p.nbuf = 8
		}
		k := copy(b[n:], p.buf[8-p.nbuf:])
		p.nbuf -= k
		n += k
	}
	p.left -= int64(n)
	return n, nil
}

// PayloadSHA256 is the lowercase hex SHA-256 of Payload(seed, size).
func PayloadSHA256(seed uint64, size int64) string {
	h := sha256.New()
	if _, err := io.Copy(h, Payload(seed, size)); err != nil {
		panic(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
