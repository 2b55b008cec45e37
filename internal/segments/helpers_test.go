package segments_test

import (
	"bytes"
	"io"
	"time"
)

const hour = time.Hour

func timeNow() time.Time { return time.Now().UTC() }

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
