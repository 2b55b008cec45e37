package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// readyWithin bounds how long a started handler may take to answer GET /.
const readyWithin = 30 * time.Second

// HandlerConfig is how StartHandler runs the binary.
type HandlerConfig struct {
	Bin string            // the offload binary
	Dir string            // working directory
	Env map[string]string // settings; they replace the inherited ones (Environ)
	// DiscardStdout drops stdout: the handler logs every request there,
	// which a load test would pile up in memory.
	DiscardStdout bool
}

// Handler is a running `offload` started the way the Functions host starts
// it.
type Handler struct {
	Base   string // http://127.0.0.1:<port>
	Stdout *SyncBuffer
	Stderr *SyncBuffer

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, set before done is closed
}

// StartHandler launches the binary with FUNCTIONS_CUSTOMHANDLER_PORT and no
// arguments and polls GET / until it answers, as the host does. The test
// fails if the process exits first or does not answer within 30 s. Cleanup
// kills the process, waits for it, and logs its output if the test failed.
func StartHandler(t testing.TB, cfg HandlerConfig) *Handler {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(cfg.Bin)
	cmd.Env = append(Environ(cfg.Env), "FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port))
	cmd.Dir = cfg.Dir
	h := &Handler{Base: "http://127.0.0.1:" + strconv.Itoa(port), Stdout: &SyncBuffer{}, Stderr: &SyncBuffer{},
		cmd: cmd, done: make(chan struct{})}
	if !cfg.DiscardStdout {
		cmd.Stdout = h.Stdout
	}
	cmd.Stderr = h.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { h.err = cmd.Wait(); close(h.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-h.done
		switch {
		case !t.Failed():
		case cfg.DiscardStdout:
			t.Logf("handler stderr:\n%s", h.Stderr)
		default:
			t.Logf("handler stdout:\n%s\nhandler stderr:\n%s", h.Stdout, h.Stderr)
		}
	})
	deadline := time.Now().Add(readyWithin)
	for {
		resp, err := http.Get(h.Base + "/")
		if err == nil {
			resp.Body.Close()
			return h
		}
		select {
		case <-h.done:
			t.Fatalf("handler exited before ready: %v\nstderr:\n%s", h.err, h.Stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("handler not ready after %s\nstderr:\n%s", readyWithin, h.Stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Pid is the process id.
func (h *Handler) Pid() int { return h.cmd.Process.Pid }

// Signal sends sig to the process.
func (h *Handler) Signal(sig os.Signal) error { return h.cmd.Process.Signal(sig) }

// Done is closed when the process has exited; Wait then returns at once.
func (h *Handler) Done() <-chan struct{} { return h.done }

// Wait waits for the process to exit and returns cmd.Wait's error.
func (h *Handler) Wait() error {
	<-h.done
	return h.err
}

// StoppedBySIGTERM is the exit code of a graceful stop on SIGTERM: 128 +
// the signal's number. The Functions host never sends SIGTERM and restarts
// a worker only when it exits non-zero, so such a stop must not exit 0.
const StoppedBySIGTERM = 128 + int(syscall.SIGTERM)

// Stop sends SIGTERM and returns nil when the process stopped gracefully
// (exit code StoppedBySIGTERM), else what it did; the test fails if the
// process is still running after within.
func (h *Handler) Stop(t testing.TB, within time.Duration) error {
	t.Helper()
	_ = h.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
		var ee *exec.ExitError
		if errors.As(h.err, &ee) && ee.ExitCode() == StoppedBySIGTERM {
			return nil
		}
		if h.err == nil {
			return fmt.Errorf("exit code 0 after SIGTERM, want %d: the host would not restart the worker", StoppedBySIGTERM)
		}
		return h.err
	case <-time.After(within):
		t.Fatalf("handler did not exit within %s of SIGTERM", within)
		return nil
	}
}
