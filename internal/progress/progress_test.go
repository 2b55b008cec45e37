package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPlainLines(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "migrate", 4, 4<<20)
	clock := b.start
	b.now = func() time.Time { return clock }
	clock = clock.Add(6 * time.Second)
	b.Add(2, 2<<20, false)
	clock = clock.Add(time.Second) // under 5 s: no line
	b.Add(1, 1<<20, true)
	b.Done()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines (one due, one final), got %d: %q", len(lines), buf.String())
	}
	// 2 MiB in 6 s, 2 MiB to go.
	if !strings.Contains(lines[0], "2/4 items") || !strings.Contains(lines[0], "ETA 6s") {
		t.Fatalf("first line %q", lines[0])
	}
	if !strings.Contains(lines[1], "3/4 items") || !strings.Contains(lines[1], "1 failed") {
		t.Fatalf("final line %q", lines[1])
	}
}

// The first sample, a fraction of a second in, gives no ETA: its rate
// would predict hours for a run of seconds.
func TestNoETAFromFirstMoment(t *testing.T) {
	var buf bytes.Buffer
	b := New(&buf, "migrate", 34, 190<<20)
	clock := b.start
	b.now = func() time.Time { return clock }
	clock = clock.Add(100 * time.Millisecond)
	b.Add(1, 1<<10, false)
	b.Done()
	first := strings.Split(buf.String(), "\n")[0]
	if !strings.Contains(first, "ETA --") {
		t.Fatalf("first line %q: want no ETA yet", first)
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 72 << 20: "72.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// A character device that is not a terminal (/dev/null, where `> /dev/null`
// sends the output) gets plain lines, not a redrawn bar.
func TestDevNullIsNoTerminal(t *testing.T) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Fatal("IsTerminal(/dev/null) = true")
	}
}

// The rate is in the binary units of the byte counts beside it.
func TestRate(t *testing.T) {
	for _, c := range []struct {
		n    int64
		d    time.Duration
		want string
	}{{72 << 20, time.Second, "72.0 MiB/s"}, {3 << 30, 2 * time.Second, "1.5 GiB/s"}, {5, 0, "0 B/s"}} {
		if got := Rate(c.n, c.d); got != c.want {
			t.Errorf("Rate(%d, %v) = %q, want %q", c.n, c.d, got, c.want)
		}
	}
}
