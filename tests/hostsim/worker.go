package hostsim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// workerManager is the one custom-handler process and its channel
// (HttpWorkerChannel, HttpFunctionInvocationDispatcher): start, readiness,
// restart on error or timeout, stop after ErrorThreshold errors.
type workerManager struct {
	s    *Sim
	bin  string
	port int

	mu      sync.Mutex
	proc    *process      // the current process (nil while none)
	ready   chan struct{} // closed when proc answers readiness; replaced per start
	errors  []time.Time   // worker errors within ErrorWindow
	nStarts int
	stopped chan struct{} // closed when the app stops
	stopWhy string
	closing bool
}

// process is one started worker.
type process struct {
	cmd      *exec.Cmd
	done     chan struct{}
	code     int  // exit code, -1 when killed by a signal
	disposed bool // the host killed it on purpose: its exit is no error
}

func newWorkerManager(s *Sim, bin string) *workerManager {
	return &workerManager{s: s, bin: bin, stopped: make(chan struct{})}
}

// start launches the first worker and waits for its readiness (or the app
// stopping).
func (w *workerManager) start(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	w.port = port
	w.mu.Lock()
	w.launchLocked()
	ready, stopped := w.ready, w.stopped
	w.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-stopped:
		return fmt.Errorf("hostsim: the app stopped: %s", w.stopWhy)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *workerManager) base() string { return "http://127.0.0.1:" + strconv.Itoa(w.port) }

// environ is the worker's environment: the inherited one without any
// setting an app could have (so a developer's own cannot leak in), then the
// app settings, then the host's own variables.
func (w *workerManager) environ() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ours := w.s.settings[k]; ours || isAppSetting(k) {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range w.s.settings {
		out = append(out, k+"="+v)
	}
	if _, ok := w.s.settings["FUNCTIONS_WORKER_RUNTIME"]; !ok {
		out = append(out, "FUNCTIONS_WORKER_RUNTIME=custom")
	}
	return append(out,
		"FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(w.port),
		"AzureWebJobsScriptRoot="+w.s.cfg.AppDir,
		"FUNCTIONS_EXTENSION_VERSION=~4",
	)
}

// isAppSetting: names a developer's shell may hold that belong to an app.
func isAppSetting(k string) bool {
	for _, p := range []string{"AzureWebJobs", "AzureFunctionsJobHost__", "FUNCTIONS_", "SQL_CONNECTION_STRING",
		"_CONTAINER", "_QUEUE", "_SCHEDULE", "FILES_ROOTS", "PUBLISH_QUEUES", "OUTBOX_"} {
		if strings.HasPrefix(k, p) || strings.HasSuffix(k, p) {
			return true
		}
	}
	return false
}

// launchLocked starts a process and its readiness poll. w.mu is held.
func (w *workerManager) launchLocked() {
	w.nStarts++
	w.s.client.CloseIdleConnections()
	ready := make(chan struct{})
	w.ready = ready
	dir := w.s.cfg.AppDir
	if wd := w.s.host.WorkingDirectory; wd != "" {
		dir = wd
	}
	cmd := exec.Command(w.bin, w.s.host.Arguments...)
	cmd.Dir, cmd.Env = dir, w.environ()
	cmd.Stdout, cmd.Stderr = orDiscard(w.s.cfg.Stdout), orDiscard(w.s.cfg.Stderr)
	p := &process{cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		w.s.logf("Failed to start Worker Channel. Process fileName: %s: %v", w.bin, err)
		w.proc = nil
		go w.workerError(nil, fmt.Errorf("start: %w", err))
		return
	}
	w.proc = p
	w.s.logf("%s process with Id=%d started (port %d, start %d)", w.bin, cmd.Process.Pid, w.port, w.nStarts)
	go func() {
		err := cmd.Wait()
		p.code = 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.code = ee.ExitCode()
		}
		close(p.done)
		w.exited(p)
	}()
	go w.pollReady(p, ready)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// pollReady is IsWorkerReady: GET / every ReadyInterval until any HTTP
// answer, for ReadyTimeout.
func (w *workerManager) pollReady(p *process, ready chan struct{}) {
	start := time.Now()
	client := &http.Client{Timeout: w.s.cfg.ReadyTimeout}
	for time.Since(start) < w.s.cfg.ReadyTimeout {
		select {
		case <-p.done:
			return // exited handles it
		case <-w.s.ctx.Done():
			return
		default:
		}
		resp, err := client.Get(w.base() + "/")
		if err == nil {
			resp.Body.Close()
			w.s.logf("HttpWorker is Initialized: GET / answered %d after %s", resp.StatusCode, time.Since(start).Round(time.Millisecond))
			close(ready)
			return
		}
		time.Sleep(w.s.cfg.ReadyInterval)
	}
	w.workerError(p, fmt.Errorf("Initializing HttpWorker timed out: no answer to GET / within %s", w.s.cfg.ReadyTimeout))
}

// exited is WorkerProcess.OnProcessExited.
func (w *workerManager) exited(p *process) {
	w.mu.Lock()
	disposed := p.disposed || w.closing
	w.mu.Unlock()
	switch {
	case disposed:
	case p.code == 0:
		w.s.logf("worker exited with code 0: it is not restarted (SuccessExitCode)")
		w.stop("the worker exited with code 0")
	case p.code == 200:
		w.s.logf("worker exited with code 200: restarting it (IntentionalRestartExitCode)")
		w.restart("intentional restart")
	default:
		w.workerError(p, fmt.Errorf("%s exited with code %d", w.bin, p.code))
	}
}

// workerError is HttpWorkerErrorEvent: count it, and restart the worker or
// stop the app.
func (w *workerManager) workerError(p *process, err error) {
	w.mu.Lock()
	if w.closing || (p != nil && p != w.proc) || w.isStopped() {
		w.mu.Unlock()
		return
	}
	now := time.Now()
	if len(w.errors) > 0 && now.Sub(w.errors[len(w.errors)-1]) > ErrorWindow {
		w.errors = nil
	}
	w.errors = append(w.errors, now)
	n := len(w.errors)
	w.mu.Unlock()
	w.s.logf("Failed to start http worker process: %v (error %d of %d)", err, n, ErrorThreshold)
	if n >= ErrorThreshold {
		w.kill(p)
		w.s.logf("Exceeded http worker restart retry count. Shutting down Functions Host")
		w.stop(err.Error())
		return
	}
	w.replace(p)
}

// restart kills the current worker on purpose and starts another
// (DisposeAndRestartWorkerChannel); not an error.
func (w *workerManager) restart(reason string) error {
	w.mu.Lock()
	p := w.proc
	stopped := w.isStopped()
	w.mu.Unlock()
	if stopped {
		return errors.New("hostsim: the app is stopped")
	}
	w.s.logf("restarting the worker: %s", reason)
	w.replace(p)
	return nil
}

// replace kills p (SIGKILL, as Process.Kill) and launches a new worker.
func (w *workerManager) replace(p *process) {
	w.kill(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing || w.isStopped() || (p != nil && p != w.proc) {
		return
	}
	w.launchLocked()
}

func (w *workerManager) kill(p *process) {
	if p == nil {
		return
	}
	w.mu.Lock()
	p.disposed = true
	w.mu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (w *workerManager) isStopped() bool {
	select {
	case <-w.stopped:
		return true
	default:
		return false
	}
}

func (w *workerManager) stop(why string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.isStopped() {
		w.stopWhy = why
		close(w.stopped)
	}
}

// wait returns the worker's URL once it is ready.
func (w *workerManager) wait(ctx context.Context) (string, error) {
	for {
		w.mu.Lock()
		ready := w.ready
		w.mu.Unlock()
		select {
		case <-ready:
			w.mu.Lock()
			same := ready == w.ready
			w.mu.Unlock()
			if same {
				return w.base(), nil
			}
		case <-w.stopped:
			return "", fmt.Errorf("the app is stopped: %s", w.stopWhy)
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

func (w *workerManager) restarts() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(w.nStarts-1, 0)
}

func (w *workerManager) close() {
	w.mu.Lock()
	w.closing = true
	p := w.proc
	w.mu.Unlock()
	if p != nil {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}
