package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hartonomous/offload/tests/testenv"
)

// Offload runs the real offload binary with a fixed set of settings (the
// environment the Functions host or an operator would give it).
type Offload struct {
	Bin string
	Dir string            // working directory
	Env map[string]string // REFERENCE §2 settings; they replace the inherited ones
}

// Environ is the process environment: the inherited one without any
// setting Env names or FUNCTIONS_CUSTOMHANDLER_PORT, plus Env.
func (o Offload) Environ() []string { return testenv.Environ(o.Env) }

// Result is a finished command.
type Result struct {
	Args           []string
	Stdout, Stderr string
	Code           int  // exit code; -1 when killed by a signal
	Killed         bool // SIGKILLed by Start's Kill
	Wall           time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("offload %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.Args, " "), r.Code, tail(r.Stdout), tail(r.Stderr))
}

// tail keeps the end of long outputs for error messages.
func tail(s string) string {
	const max = 4000
	if len(s) > max {
		return "…" + s[len(s)-max:]
	}
	return s
}

// Run runs the command to completion (killed after timeout).
func (o Offload) Run(ctx context.Context, timeout time.Duration, args ...string) (Result, error) {
	p, err := o.Start(args...)
	if err != nil {
		return Result{}, err
	}
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.Kill()
		r := p.Wait()
		return r, fmt.Errorf("offload %s: still running after %s (killed)", strings.Join(args, " "), timeout)
	case <-ctx.Done():
		p.Kill()
		p.Wait()
		return Result{}, ctx.Err()
	}
	return p.Wait(), nil
}

// Proc is a running offload.
type Proc struct {
	cmd    *exec.Cmd
	args   []string
	start  time.Time
	stdout *testenv.SyncBuffer
	stderr *testenv.SyncBuffer
	done   chan struct{}
	err    error
	killed bool
	mu     sync.Mutex
}

// Start launches the command.
func (o Offload) Start(args ...string) (*Proc, error) {
	cmd := exec.Command(o.Bin, args...)
	cmd.Env, cmd.Dir = o.Environ(), o.Dir
	p := &Proc{cmd: cmd, args: args, stdout: &testenv.SyncBuffer{}, stderr: &testenv.SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start offload %s: %w", strings.Join(args, " "), err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Kill sends SIGKILL: no handler, no deferred call, no flush runs.
func (p *Proc) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	p.killed = true
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
}

// Signal sends sig (SIGTERM for a graceful stop).
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits for the exit and returns the result.
func (p *Proc) Wait() Result {
	<-p.done
	r := Result{Args: p.args, Stdout: p.stdout.String(), Stderr: p.stderr.String(), Wall: time.Since(p.start)}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
	case errors.As(p.err, &ee):
		r.Code = ee.ExitCode()
	default:
		r.Code = -1
	}
	p.mu.Lock()
	r.Killed = p.killed
	p.mu.Unlock()
	return r
}

// Output is what the process wrote so far.
func (p *Proc) Output() (stdout, stderr string) { return p.stdout.String(), p.stderr.String() }
