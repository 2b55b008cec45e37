// Package progress draws a one-line progress bar (items, bytes, rate, ETA)
// on a terminal, and prints plain progress lines at a slower pace when the
// output is a file or a pipe (CI logs, `make run > log`).
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// Bar tracks items and bytes done out of a total. Safe for concurrent use.
type Bar struct {
	mu          sync.Mutex
	w           io.Writer
	tty         bool
	label       string
	totalItems  int64
	totalBytes  int64
	items       int64
	bytes       int64
	failed      int64
	start       time.Time
	last        time.Time
	every       time.Duration
	now         func() time.Time
	lastLineLen int
}

// New returns a bar writing to w. A terminal gets a redrawn line at most
// 10 times a second; anything else a plain line every 5 seconds.
func New(w io.Writer, label string, totalItems, totalBytes int64) *Bar {
	b := &Bar{w: w, tty: IsTerminal(w), label: label, totalItems: totalItems, totalBytes: totalBytes, now: time.Now}
	b.start = b.now()
	b.every = 5 * time.Second
	if b.tty {
		b.every = 100 * time.Millisecond
	}
	return b
}

// IsTerminal reports whether w is a terminal: a file that answers the
// terminal ioctl, not any character device (/dev/null is one, and gets
// plain lines).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Add records finished work and redraws when due.
func (b *Bar) Add(items, bytes int64, failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.items += items
	b.bytes += bytes
	if failed {
		b.failed += items
	}
	if now := b.now(); now.Sub(b.last) >= b.every {
		b.last = now
		b.draw(false)
	}
}

// Done draws the final state and ends the line.
func (b *Bar) Done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.draw(true)
}

// minETA is how long a run must have gone before its rate gives an ETA.
const minETA = time.Second

func (b *Bar) draw(final bool) {
	elapsed := b.now().Sub(b.start)
	el := elapsed.Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(b.bytes) / el
	}
	eta := "--"
	// A rate from the first fraction of a second (one small item, a
	// connection being set up) predicts nothing: no ETA before minETA.
	if rate > 0 && b.totalBytes > b.bytes && !final && el >= minETA.Seconds() {
		eta = (time.Duration(float64(b.totalBytes-b.bytes)/rate) * time.Second).Round(time.Second).String()
	}
	pct := 100.0
	if b.totalBytes > 0 {
		pct = 100 * float64(b.bytes) / float64(b.totalBytes)
	}
	line := fmt.Sprintf("%s %d/%d items, %s/%s (%.0f%%), %s, ETA %s", b.label, b.items, b.totalItems,
		Bytes(b.bytes), Bytes(b.totalBytes), pct, Rate(b.bytes, elapsed), eta)
	if b.failed > 0 {
		line += fmt.Sprintf(", %d failed", b.failed)
	}
	if b.tty {
		const width = 24
		filled := int(pct / 100 * width)
		if filled > width {
			filled = width
		}
		bar := "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "] "
		pad := ""
		if n := b.lastLineLen - len(bar+line); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		fmt.Fprint(b.w, "\r"+bar+line+pad)
		b.lastLineLen = len(bar + line)
		if final {
			fmt.Fprintln(b.w)
		}
		return
	}
	fmt.Fprintln(b.w, line)
}

// Rate formats n bytes over d as Bytes per second ("72.0 MiB/s"): the same
// binary units as the byte counts beside it. 0 B/s when d is not positive.
func Rate(n int64, d time.Duration) string {
	if d <= 0 {
		return "0 B/s"
	}
	return Bytes(int64(float64(n)/d.Seconds())) + "/s"
}

// Bytes formats a byte count with a binary unit.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
