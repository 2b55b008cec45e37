package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/hartonomous/offload/internal/broker"
	"github.com/hartonomous/offload/internal/catalog"
	"github.com/hartonomous/offload/internal/catalog/sqlite"
	"github.com/hartonomous/offload/internal/config"
	"github.com/hartonomous/offload/internal/segments"
	"github.com/hartonomous/offload/tests/faultproxy"
	"github.com/hartonomous/offload/tests/testenv"
)

// bigSegmentBytes is large enough to take several 1 MiB blocks, small
// enough for a quick test; the slow proxy below makes it take seconds.
const bigSegmentBytes = 6 << 20

// exitBound is how long a process may take to exit after SIGTERM: the
// server's graceful shutdown waits up to 30 s for work in flight.
const exitBound = 40 * time.Second

// shutdownWorld is a world whose catalog holds one big segment and whose
// blob traffic goes through a proxy that delays every request, so a
// migration is surely in progress when the signal comes.
type shutdownWorld struct {
	*world
	id     int64
	sum    string // SHA-256 of the payload
	slowCS string // AzureWebJobsStorage through the slow blob proxy
}

func setupShutdown(t *testing.T) *shutdownWorld {
	t.Helper()
	w := newWorld(t)
	w.mustRun("schema", "apply")
	id, sum := testenv.AddSegment(t, filepath.Join(w.dir, "catalog.db"), "shutdown-test", 7, bigSegmentBytes)
	p, err := faultproxy.Start(faultproxy.Config{Target: fmt.Sprintf("http://127.0.0.1:%d", az.BlobPort), Seed: 1, Rate: 1,
		Faults: []faultproxy.Kind{faultproxy.Delay}, MaxDelay: 800 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return &shutdownWorld{world: w, id: id, sum: sum,
		slowCS: faultproxy.DevConnectionString(p.URL(), fmt.Sprintf("http://127.0.0.1:%d", az.QueuePort))}
}

func (s *shutdownWorld) segment() catalog.Segment {
	s.t.Helper()
	cat, err := sqlite.Open(context.Background(), filepath.Join(s.dir, "catalog.db"), sqlite.Options{})
	if err != nil {
		s.t.Fatal(err)
	}
	defer cat.Close()
	seg, err := cat.GetSegment(context.Background(), s.id)
	if err != nil {
		s.t.Fatal(err)
	}
	return seg
}

// waitClaimed polls the row until a worker holds its claim: the migration
// has started and its upload is under way.
func (s *shutdownWorld) waitClaimed(exited <-chan error) {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		seg := s.segment()
		if seg.ClaimedUntil.After(time.Now()) {
			return
		}
		if seg.Sha256 != "" {
			s.t.Fatalf("segment migrated before the signal could be sent")
		}
		select {
		case err := <-exited:
			s.t.Fatalf("process exited before the migration started: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no claim on segment %d after a minute", s.id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkRow asserts there is no half-recorded row: either every blob field
// and the hash are set (and right), or none is; and no live claim is left.
func (s *shutdownWorld) checkRow() (migrated bool) {
	s.t.Helper()
	seg := s.segment()
	if seg.ClaimedUntil.After(time.Now()) {
		s.t.Errorf("a live claim is left on segment %d (until %s): it blocks every other worker", s.id, seg.ClaimedUntil)
	}
	full := seg.Sha256 != "" && seg.BlobURI != "" && seg.BlobETag != "" && seg.BlobSizeBytes == bigSegmentBytes
	none := seg.Sha256 == "" && seg.BlobURI == "" && seg.BlobETag == "" && seg.BlobSizeBytes == 0
	switch {
	case full && seg.Sha256 != s.sum:
		s.t.Errorf("row records sha256 %s, the payload is %s", seg.Sha256, s.sum)
	case full:
		return true
	case !none:
		s.t.Errorf("half-recorded row: state %s sha256 %q uri %q etag %q size %d", seg.State, seg.Sha256, seg.BlobURI, seg.BlobETag, seg.BlobSizeBytes)
	}
	return false
}

// finish reruns the migration on healthy storage and proves the result.
func (s *shutdownWorld) finish(args ...string) {
	s.t.Helper()
	s.mustRun(args...)
	s.mustRun("segments", "verify")
	seg := s.segment()
	if seg.State != catalog.StateVerified || seg.Sha256 != s.sum {
		s.t.Fatalf("after the rerun: state %s sha256 %s, want verified %s", seg.State, seg.Sha256, s.sum)
	}
}

// SIGTERM while `offload segments migrate` uploads a big segment: the
// process exits promptly, the message is visible again at once (or was
// completed), the row is not half-recorded and keeps no live claim, and a
// rerun finishes the migration.
func TestShutdownDuringMigrate(t *testing.T) {
	s := setupShutdown(t)
	s.mustRun("segments", "enqueue")

	cmd := exec.Command(binPath, "segments", "migrate", "--workers", "1", "--block-size-mib", "1", "--concurrency", "1", "--verbose")
	env := maps.Clone(s.env)
	env["AzureWebJobsStorage"] = s.slowCS
	cmd.Env, cmd.Dir = testenv.Environ(env), s.dir
	var out, errb testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	s.waitClaimed(exited)

	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if ee, ok := err.(*exec.ExitError); ok && !ee.Exited() {
			t.Fatalf("migrate died of a signal instead of exiting: %v\nstderr:\n%s", err, &errb)
		}
	case <-time.After(exitBound):
		t.Fatalf("migrate did not exit within %s of SIGTERM\nstderr:\n%s", exitBound, &errb)
	}

	migrated := s.checkRow()
	t.Logf("stopped with the row migrated: %v; migrate's log:\n%s", migrated, &errb)
	b, err := broker.New(config.Storage{ConnectionString: az.ConnectionString}, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	visible, err := b.Peek(context.Background(), s.env["SEGMENT_QUEUE"], 32)
	if err != nil {
		t.Fatal(err)
	}
	if !migrated {
		// Peek sees only visible messages: the stopped worker must have
		// released its message, not left it invisible for 5 minutes.
		if len(visible) != 1 {
			t.Fatalf("%d visible message(s) after the stop, want the segment's 1 (released at once)\nstderr:\n%s", len(visible), &errb)
		}
		if m, err := segments.ParseMessage(visible[0].Body); err != nil || m.SegmentID != s.id {
			t.Fatalf("visible message %q is not segment %d's", visible[0].Body, s.id)
		}
	}
	s.finish("segments", "migrate")
}

// SIGTERM while `offload serve` handles a MigrateSegment invocation: the
// invocation in flight is let finish (graceful shutdown), the process
// exits within the bound, the answer matches the row (200 only with the
// row fully migrated), no live claim is left, and a rerun finishes it.
func TestShutdownDuringInvocation(t *testing.T) {
	s := setupShutdown(t)
	s.env["AzureWebJobsStorage"] = s.slowCS
	h := s.start()

	type answer struct {
		code int
		body []byte
		err  error
	}
	answered := make(chan answer, 1)
	invocation := `{"Data":{"msg":"\"{\\\"segmentId\\\":` + strconv.FormatInt(s.id, 10) + `}\""},"Metadata":{"DequeueCount":"1","Id":"\"shutdown-1\""}}`
	go func() {
		resp, err := http.Post(h.Base+"/MigrateSegment", "application/json", bytes.NewReader([]byte(invocation)))
		if err != nil {
			answered <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		answered <- answer{code: resp.StatusCode, body: body, err: err}
	}()
	exited := make(chan error, 1)
	go func() { exited <- h.Wait() }()
	s.waitClaimed(exited)

	_ = h.Signal(syscall.SIGTERM)
	var a answer
	select {
	case a = <-answered:
	case <-time.After(exitBound):
		t.Fatalf("no answer to the invocation within %s of SIGTERM\nstderr:\n%s", exitBound, h.Stderr)
	}
	select {
	case err := <-exited:
		if ee, ok := err.(*exec.ExitError); ok && !ee.Exited() {
			t.Fatalf("handler died of a signal instead of exiting: %v", err)
		}
	case <-time.After(exitBound):
		t.Fatalf("handler did not exit within %s of SIGTERM", exitBound)
	}

	migrated := s.checkRow()
	switch {
	case a.err == nil && a.code == http.StatusOK && !migrated:
		t.Fatalf("the invocation answered 200 (the host completes the message) but the row is not migrated: %s", a.body)
	case (a.err != nil || a.code != http.StatusOK) && migrated:
		t.Logf("the invocation failed (%v %d) after the row was recorded: the host retries, a no-op", a.err, a.code)
	case a.err == nil && a.code == http.StatusOK:
		t.Logf("the invocation in flight finished during the graceful shutdown")
	}

	s.env["AzureWebJobsStorage"] = az.ConnectionString
	h2 := s.start()
	if code, body := h2.do(t, "POST", "/MigrateSegment", "application/json", []byte(invocation)); code != http.StatusOK {
		t.Fatalf("rerun of the invocation: %d %s", code, body)
	}
	s.finish("segments", "status")
}
