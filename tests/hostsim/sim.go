package hostsim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/hostproto"
)

// Host's constants (WorkerConstants, HttpFunctionInvocationDispatcher).
const (
	DefaultReadyTimeout  = 30 * time.Second
	DefaultReadyInterval = 25 * time.Millisecond
	// ErrorThreshold worker errors within ErrorWindow stop the app.
	ErrorThreshold = 3
	ErrorWindow    = 30 * time.Minute
	// DefaultTimeoutGrace is how long, past functionTimeout, the host waits
	// for the invocation to end before it restarts the worker.
	DefaultTimeoutGrace = 2 * time.Second
	// MaxRequestBodyBytes is the host's limit on a request body (100 MiB)
	// unless FUNCTIONS_REQUEST_BODY_SIZE_LIMIT says otherwise.
	MaxRequestBodyBytes = 100 << 20
	// dequeueVisibility keeps a message invisible while it runs
	// (QueueListener renews it at half).
	dequeueVisibility = 10 * time.Minute
)

// Config says which app to host and how.
type Config struct {
	// AppDir is the script root: host.json, and the worker's working
	// directory.
	AppDir string
	// FunctionsDir holds <Name>/function.json (default AppDir).
	FunctionsDir string
	// Bin is the worker executable; "" resolves host.json's
	// defaultExecutablePath against AppDir.
	Bin string
	// Settings are the app settings (the host's environment). Those it
	// lacks are read from AppDir/local.settings.json, as `func start` does.
	Settings map[string]string
	// Logf receives the host's log lines (nil: discarded).
	Logf func(format string, args ...any)
	// Stdout and Stderr receive the worker's output (nil: discarded).
	Stdout, Stderr io.Writer
	// ReadyTimeout and ReadyInterval are the readiness poll (30 s, 25 ms).
	ReadyTimeout, ReadyInterval time.Duration
	// TimeoutGrace is the wait past functionTimeout before the worker is
	// killed (DefaultTimeoutGrace).
	TimeoutGrace time.Duration
	// RunTimers fires timer functions on their schedules; without it they
	// run only through FireTimer.
	RunTimers bool
	// NoQueues leaves the queue triggers off (tests that drive them by hand).
	NoQueues bool
	// TLS, when set, serves the host's endpoint over HTTPS with it, as
	// Azure serves a Function App (URL then starts with https://).
	TLS *tls.Config
	// Keys, when set, are checked on every HTTP trigger as the host checks
	// them (authorized); nil checks none, as func start does.
	Keys *Keys
}

// Function is an indexed function.
type Function struct {
	Name    string
	Trigger hostproto.Binding // the trigger binding, %SETTING%s resolved
	// Out is the HTTP output binding of an HTTP function.
	Out *hostproto.Binding
}

// Sim is a running simulated host. Build it with Start; Close stops it.
type Sim struct {
	cfg      Config
	host     config.Host
	settings map[string]string
	fns      map[string]*Function
	skipped  map[string]string // function → why it is not indexed
	worker   *workerManager

	front    *http.Server
	frontURL string
	maxBody  int64 // request body limit (MaxRequestBodyBytes or FUNCTIONS_REQUEST_BODY_SIZE_LIMIT)
	// client sends to the worker; its idle connections are dropped when
	// the worker is replaced, so no request goes to a dead process.
	client *http.Client

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu          sync.Mutex
	closed      bool
	invocations []Invocation
	events      []string
	timerState  map[string]*timerStatus
	timerLocks  map[string]*sync.Mutex
}

// Invocation is one function invocation as the host saw it.
type Invocation struct {
	Function string
	ID       string
	Started  time.Time
	Duration time.Duration
	// Status is the worker's HTTP status (0 when it did not answer).
	Status int
	// Err is why it failed ("" on success).
	Err string
	// TimedOut: it ran past functionTimeout.
	TimedOut bool
	// Body is the worker's answer (invocation replies and HTTP bodies up
	// to 64 KiB).
	Body []byte
}

// Succeeded reports a 2xx answer in time.
func (i Invocation) Succeeded() bool { return i.Err == "" }

// Start loads the app, indexes its functions, starts the worker and waits
// for its readiness, then starts the triggers. An app that stops (the
// worker failed 3 times, or exited 0) is an error; the stopped Sim is
// returned with it, for its log and what it indexed.
func Start(ctx context.Context, cfg Config) (*Sim, error) {
	if cfg.FunctionsDir == "" {
		cfg.FunctionsDir = cfg.AppDir
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.ReadyInterval <= 0 {
		cfg.ReadyInterval = DefaultReadyInterval
	}
	if cfg.TimeoutGrace <= 0 {
		cfg.TimeoutGrace = DefaultTimeoutGrace
	}
	s := &Sim{cfg: cfg, fns: map[string]*Function{}, skipped: map[string]string{},
		client:     &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		timerState: map[string]*timerStatus{}, timerLocks: map[string]*sync.Mutex{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	local, err := config.LocalSettings(filepath.Join(cfg.AppDir, config.LocalSettingsFile))
	if err != nil {
		return nil, fmt.Errorf("hostsim: %w", err)
	}
	s.settings = map[string]string{}
	for k, v := range local {
		s.settings[k] = v
	}
	for k, v := range cfg.Settings {
		s.settings[k] = v
	}
	if s.host, err = config.LoadHost(cfg.AppDir, func(k string) string { return s.settings[k] }); err != nil {
		return nil, fmt.Errorf("hostsim: %w", err)
	}
	if err := s.index(); err != nil {
		return nil, err
	}
	bin := cfg.Bin
	if bin == "" {
		bin = filepath.Join(cfg.AppDir, s.host.Executable)
	}
	s.worker = newWorkerManager(s, bin)
	if err := s.worker.start(ctx); err != nil {
		s.Close()
		return s, err
	}
	if err := s.startFront(); err != nil {
		s.Close()
		return nil, err
	}
	for _, f := range s.fns {
		switch f.Trigger.Type {
		case "queueTrigger":
			if !cfg.NoQueues {
				q, err := s.newQueueListener(f)
				if err != nil {
					s.Close()
					return nil, err
				}
				s.wg.Add(1)
				go q.run()
			}
		case "timerTrigger":
			if err := s.startTimer(f); err != nil {
				s.Close()
				return nil, err
			}
		}
	}
	return s, nil
}

// index reads every function.json and resolves its %SETTING%s, as the host
// does at start-up.
func (s *Sim) index() error {
	defs, err := hostproto.ReadDefinitions(os.DirFS(s.cfg.FunctionsDir))
	if err != nil {
		return fmt.Errorf("hostsim: %w", err)
	}
	for _, d := range defs {
		f, err := s.indexOne(d)
		if err != nil {
			s.skipped[d.Name] = err.Error()
			s.logf("Error indexing method 'Functions.%s': %v", d.Name, err)
			continue
		}
		s.fns[d.Name] = f
	}
	if len(s.fns) == 0 {
		return errors.New("hostsim: no function was indexed")
	}
	return nil
}

func (s *Sim) indexOne(d hostproto.Definition) (*Function, error) {
	f := &Function{Name: d.Name}
	var trigger *hostproto.Binding
	for i := range d.Bindings {
		b := d.Bindings[i]
		if strings.HasSuffix(b.Type, "Trigger") && b.Direction == "in" {
			if trigger != nil {
				return nil, errors.New("more than one trigger binding")
			}
			trigger = &b
		}
		if b.Type == "http" && b.Direction == "out" {
			f.Out = &b
		}
	}
	if trigger == nil {
		return nil, errors.New("no trigger binding")
	}
	var err error
	if trigger.QueueName, err = s.resolve(trigger.QueueName); err != nil {
		return nil, err
	}
	if trigger.Schedule, err = s.resolve(trigger.Schedule); err != nil {
		return nil, err
	}
	switch trigger.Type {
	case "queueTrigger":
		// QueueTriggerAttributeBindingProvider normalises the name.
		trigger.QueueName = strings.ToLower(trigger.QueueName)
		if err := config.ValidQueueName(trigger.QueueName); err != nil {
			return nil, err
		}
		if trigger.Connection == "" {
			trigger.Connection = "AzureWebJobsStorage"
		}
	case "timerTrigger":
		if _, err := config.ParseSchedule(trigger.Schedule); err != nil {
			return nil, fmt.Errorf("the schedule expression was not recognized as a valid cron expression or timespan string: %w", err)
		}
	case "httpTrigger":
		if trigger.Route == "" {
			trigger.Route = d.Name
		}
	default:
		return nil, fmt.Errorf("trigger %q is not simulated", trigger.Type)
	}
	f.Trigger = *trigger
	return f, nil
}

// resolve is INameResolver.ResolveWholeString over the app settings.
func (s *Sim) resolve(v string) (string, error) {
	var out strings.Builder
	for {
		i := strings.IndexByte(v, '%')
		if i < 0 {
			out.WriteString(v)
			return out.String(), nil
		}
		j := strings.IndexByte(v[i+1:], '%')
		if j < 0 {
			return "", fmt.Errorf("the '%%' at position %d does not have a closing '%%'", i)
		}
		name := v[i+1 : i+1+j]
		val, ok := s.settings[name]
		if !ok || val == "" {
			return "", fmt.Errorf("'%%%s%%' does not resolve to a value", name)
		}
		out.WriteString(v[:i])
		out.WriteString(val)
		v = v[i+2+j:]
	}
}

// Indexed lists the functions the host indexed.
func (s *Sim) Indexed() []string {
	var out []string
	for n := range s.fns {
		out = append(out, n)
	}
	return out
}

// NotIndexed is why each function that was not indexed was not.
func (s *Sim) NotIndexed() map[string]string { return s.skipped }

// Host is host.json as the simulator applies it.
func (s *Sim) Host() config.Host { return s.host }

// URL is the host's own HTTP endpoint (what clients call: /api/...).
func (s *Sim) URL() string { return s.frontURL }

// Restarts is how many times the worker was started again.
func (s *Sim) Restarts() int { return s.worker.restarts() }

// Stopped is closed when the app stopped (the worker failed too often, or
// exited with 0 and is not restarted).
func (s *Sim) Stopped() <-chan struct{} { return s.worker.stopped }

// Events is the host's log so far.
func (s *Sim) Events() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.events...)
}

// Invocations returns the invocations of fn so far ("" for all).
func (s *Sim) Invocations(fn string) []Invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Invocation
	for _, i := range s.invocations {
		if fn == "" || i.Function == fn {
			out = append(out, i)
		}
	}
	return out
}

// RestartWorker kills the worker and starts it again, as the host does when
// any invocation passes functionTimeout (RestartWorkerWithInvocationIdAsync):
// every invocation in flight dies with it.
func (s *Sim) RestartWorker(reason string) error { return s.worker.restart(reason) }

// Close stops the triggers and kills the worker.
func (s *Sim) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	if s.front != nil {
		s.front.Close()
	}
	if s.worker != nil {
		s.worker.close()
	}
	s.wg.Wait()
}

func (s *Sim) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.events = append(s.events, time.Now().Format("15:04:05.000")+" "+line)
	closed := s.closed
	s.mu.Unlock()
	if s.cfg.Logf != nil && !closed {
		s.cfg.Logf("host: %s", line)
	}
}

func (s *Sim) record(i Invocation) {
	s.mu.Lock()
	s.invocations = append(s.invocations, i)
	s.mu.Unlock()
}

// freePort is a port nothing listens on (the host picks one per worker).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
