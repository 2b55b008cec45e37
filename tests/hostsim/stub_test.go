package hostsim_test

import (
	"context"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hartonomous/offload/tests/hostsim"
)

// stubEnv makes the test binary a stub custom handler: ready at once, and
// every invocation hangs. On SIGTERM it writes the file the variable names.
const stubEnv = "HOSTSIM_STUB_SIGTERM_FILE"

func runStub() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() {
		<-sig
		_ = os.WriteFile(os.Getenv(stubEnv), []byte("SIGTERM"), 0o644)
		os.Exit(143)
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST /", func(http.ResponseWriter, *http.Request) { select {} })
	_ = http.ListenAndServe("127.0.0.1:"+os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT"), mux)
	os.Exit(1)
}

// An invocation past functionTimeout that the worker does not end: the
// host fails it and, after the grace period, kills the worker (SIGKILL,
// never SIGTERM) and starts another.
func TestTimeoutKillsTheWorker(t *testing.T) {
	a := newApp(t, map[string]any{"functionTimeout": "00:00:01"})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sigterm := filepath.Join(t.TempDir(), "sigterm")
	a.settings[stubEnv] = sigterm
	h := a.mustStart(hostsim.Config{Bin: self, TimeoutGrace: 500 * time.Millisecond, NoQueues: true})
	start := time.Now()
	inv := h.FireTimer(context.Background(), "VerifySegments", false)
	if inv.Succeeded() || !inv.TimedOut || !strings.Contains(inv.Err, "function timeout") {
		t.Fatalf("the hung invocation: %s", inv)
	}
	if took := time.Since(start); took < time.Second || took > 10*time.Second {
		t.Fatalf("failed after %s, want functionTimeout and the grace", took)
	}
	eventually(t, 10*time.Second, "the worker restarted", func() bool { return h.Restarts() == 1 })
	if _, err := os.Stat(sigterm); err == nil {
		t.Fatal("the host sent SIGTERM: it kills")
	}
}
