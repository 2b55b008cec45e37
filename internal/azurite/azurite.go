// Package azurite starts and stops the Azurite storage emulator (blob and
// queue services) that the repository pins in package.json, on 127.0.0.1
// with ports chosen by the kernel and a private data directory.
//
// `offload run` uses Start when no storage is configured; tests start it
// through the azuritetest package.
package azurite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hartonomous/offload/internal/config"
)

// Server is a running Azurite (blob + queue).
type Server struct {
	BlobPort  int
	QueuePort int
	// ConnectionString is the full devstoreaccount1 string for this server.
	ConnectionString string
	DataDir          string
	// Pids are the emulator's processes (node, one per service), whose CPU
	// time a benchmark counts beside its own.
	Pids []int

	procs   []*exec.Cmd
	tempDir bool
	once    sync.Once
}

// Options for Start.
type Options struct {
	// Bin is the folder holding azurite-blob and azurite-queue; empty finds
	// node_modules/.bin in the module root (walking up from the working
	// directory).
	Bin string
	// DataDir keeps the emulator's data; empty makes a temp dir removed on Stop.
	DataDir string
	// Stderr receives the emulator's own output (nil: discarded).
	Stderr io.Writer
}

var listenRE = regexp.MustCompile(`successfully listens on https?://127\.0\.0\.1:(\d+)`)

// Start launches the blob and queue services and waits until both accept
// connections.
func Start(ctx context.Context, opt Options) (*Server, error) {
	bin := opt.Bin
	if bin == "" {
		var err error
		if bin, err = FindBin(); err != nil {
			return nil, err
		}
	}
	s := &Server{DataDir: opt.DataDir}
	if s.DataDir == "" {
		d, err := os.MkdirTemp("", "offload-azurite-*")
		if err != nil {
			return nil, fmt.Errorf("azurite: temp dir: %w", err)
		}
		s.DataDir, s.tempDir = d, true
	}
	var err error
	if s.BlobPort, err = s.launch(ctx, filepath.Join(bin, "azurite-blob"), "blob", opt.Stderr); err != nil {
		s.Stop()
		return nil, err
	}
	if s.QueuePort, err = s.launch(ctx, filepath.Join(bin, "azurite-queue"), "queue", opt.Stderr); err != nil {
		s.Stop()
		return nil, err
	}
	s.ConnectionString = config.DevConnectionString("127.0.0.1", s.BlobPort, s.QueuePort)
	return s, nil
}

func (s *Server) launch(ctx context.Context, exe, svc string, stderr io.Writer) (int, error) {
	dir := filepath.Join(s.DataDir, svc)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, fmt.Errorf("azurite: %w", err)
	}
	cmd := exec.Command(exe,
		"--"+svc+"Host", "127.0.0.1", "--"+svc+"Port", "0",
		"--location", dir, "--skipApiVersionCheck", "--disableTelemetry", "--silent", "--loose")
	// Own process group: Stop kills node and anything it spawned.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, fmt.Errorf("azurite %s: %w", svc, err)
	}
	if stderr != nil {
		cmd.Stderr = stderr
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("azurite %s: start %s: %w (run `npm ci` first)", svc, exe, err)
	}
	s.procs = append(s.procs, cmd)
	s.Pids = append(s.Pids, cmd.Process.Pid)

	portc := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil && !sent {
				p, _ := strconv.Atoi(m[1])
				portc <- p
				sent = true
			}
			if stderr != nil {
				fmt.Fprintln(stderr, sc.Text())
			}
		}
		if !sent {
			close(portc)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	select {
	case p, ok := <-portc:
		if !ok {
			return 0, fmt.Errorf("azurite %s: exited before listening", svc)
		}
		if err := waitTCP(ctx, p); err != nil {
			return 0, fmt.Errorf("azurite %s: %w", svc, err)
		}
		return p, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("azurite %s: not listening after 60s: %w", svc, ctx.Err())
	}
}

func waitTCP(ctx context.Context, port int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("port %d: %w", port, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop ends both services and removes a temp data dir. Safe to call twice.
func (s *Server) Stop() {
	s.once.Do(func() {
		for _, c := range s.procs {
			if c.Process == nil {
				continue
			}
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = c.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
				<-done
			}
		}
		if s.tempDir {
			_ = os.RemoveAll(s.DataDir)
		}
	})
}

// FindBin locates node_modules/.bin with the Azurite launchers, from
// $AZURITE_BIN or by walking up from the working directory to the folder
// that holds package.json.
func FindBin() (string, error) {
	if b := os.Getenv("AZURITE_BIN"); b != "" {
		return b, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b := filepath.Join(dir, "node_modules", ".bin")
		if _, err := os.Stat(filepath.Join(b, "azurite-blob")); err == nil {
			return b, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("azurite: node_modules/.bin/azurite-blob not found: run `npm ci` in the repository (or set AZURITE_BIN)")
		}
		dir = parent
	}
}
