package tdsproxy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"unicode/utf16"
)

// TDS packet framing (MS-TDS 2.2.3.1): an 8-byte header, then up to the
// negotiated packet size less 8 of data. A message is the packets up to
// and including the one whose status has the end-of-message bit.
const (
	headerLen = 8
	statusEOM = 0x01

	typeSQLBatch  = 0x01
	typeRPC       = 0x03
	typeReply     = 0x04
	typeTransMgr  = 0x0E
	tokenError    = 0xAA
	tokenDone     = 0xFD
	doneError     = 0x0002
	maxPacketSize = 32767 // MS-TDS: packet sizes go up to 32,767 bytes
)

// packet is one TDS packet, header included.
type packet []byte

func (p packet) typ() byte    { return p[0] }
func (p packet) eom() bool    { return p[1]&statusEOM != 0 }
func (p packet) data() []byte { return p[headerLen:] }

// isRequest reports whether a client packet starts or continues a request
// the server answers with a reply message: a SQL batch, an RPC (every
// parameterised statement go-mssqldb sends), a transaction manager request
// (BEGIN, COMMIT, ROLLBACK). Pre-login, login and attention pass through.
func isRequest(t byte) bool { return t == typeSQLBatch || t == typeRPC || t == typeTransMgr }

// readPacket reads one packet from r.
func readPacket(r io.Reader) (packet, error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(h[2:4]))
	if n < headerLen || n > maxPacketSize {
		return nil, fmt.Errorf("tdsproxy: packet length %d out of range", n)
	}
	p := make(packet, n)
	copy(p, h[:])
	if _, err := io.ReadFull(r, p[headerLen:]); err != nil {
		return nil, err
	}
	return p, nil
}

// mentions reports whether a request packet's data holds s as UTF-16LE,
// the encoding of SQL text in batches and of nvarchar parameters in RPCs
// (the statement of sp_executesql comes first, in the first packet).
func mentions(p packet, s string) bool {
	return s != "" && bytes.Contains(p.data(), utf16le(s))
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// errorReply is a whole reply message that answers a request with the
// server error number (MS-TDS 2.2.7.10 ERROR, 2.2.7.6 DONE with DONE_ERROR),
// as Azure SQL Database answers when it is reconfiguring or throttling.
func errorReply(number int32, class byte, msg, server string) []byte {
	var tok bytes.Buffer
	body := new(bytes.Buffer)
	binary.Write(body, binary.LittleEndian, number)
	body.WriteByte(1)     // state
	body.WriteByte(class) // severity
	text := utf16le(msg)
	binary.Write(body, binary.LittleEndian, uint16(len(text)/2))
	body.Write(text)
	name := utf16le(server)
	body.WriteByte(byte(len(name) / 2))
	body.Write(name)
	body.WriteByte(0) // no procedure name
	binary.Write(body, binary.LittleEndian, int32(1))
	tok.WriteByte(tokenError)
	binary.Write(&tok, binary.LittleEndian, uint16(body.Len()))
	tok.Write(body.Bytes())
	tok.WriteByte(tokenDone)
	binary.Write(&tok, binary.LittleEndian, uint16(doneError))
	binary.Write(&tok, binary.LittleEndian, uint16(0)) // current command
	binary.Write(&tok, binary.LittleEndian, uint64(0)) // row count
	out := make([]byte, headerLen, headerLen+tok.Len())
	out[0], out[1] = typeReply, statusEOM
	binary.BigEndian.PutUint16(out[2:4], uint16(headerLen+tok.Len()))
	out[6] = 1 // packet id
	return append(out, tok.Bytes()...)
}
