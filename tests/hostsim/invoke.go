package hostsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Headers the host adds to every request it sends a custom handler
// (DefaultHttpWorkerService.AddHeaders).
const (
	InvocationIDHeader = "X-Azure-Functions-InvocationId"
	HostVersionHeader  = "X-Azure-Functions-HostVersion"
	HostVersion        = "4.1037.0"
	userAgent          = "Azure-Functions-Custom-Handler/" + HostVersion
)

var errTimeout = errors.New("function timeout")

// send runs one invocation: it waits for the worker, sends req (built for
// its URL), and enforces functionTimeout: past it the invocation has
// failed, and when the worker has not answered within the grace period
// either it is killed and restarted (WebScriptHostExceptionHandler). The
// worker's answer is returned, whatever its status, for the caller to
// read and record; without one (no answer, a timeout) resp is nil and the
// failure is recorded here.
func (s *Sim) send(ctx context.Context, fn, id string, build func(base string) (*http.Request, error)) (*http.Response, Invocation) {
	inv := Invocation{Function: fn, ID: id, Started: time.Now()}
	fail := func(err error) (*http.Response, Invocation) {
		inv.Err, inv.Duration = err.Error(), time.Since(inv.Started)
		s.logf("Executed 'Functions.%s' (Failed, Id=%s): %s", fn, id, inv.Err)
		s.record(inv)
		return nil, inv
	}
	base, err := s.worker.wait(ctx)
	if err != nil {
		return fail(err)
	}
	req, err := build(base)
	if err != nil {
		return fail(err)
	}
	req.Header.Set(InvocationIDHeader, id)
	req.Header.Set(HostVersionHeader, HostVersion)
	req.Header.Set("User-Agent", userAgent)

	// The host's HttpClient call takes no cancellation token: a timeout
	// does not cut it, the restart of the worker does.
	type answer struct {
		resp *http.Response
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, err := s.client.Do(req.WithContext(context.WithoutCancel(ctx)))
		answered <- answer{resp, err}
	}()
	var timeout <-chan time.Time
	if t := s.host.FunctionTimeout; t > 0 {
		timer := time.NewTimer(t)
		defer timer.Stop()
		timeout = timer.C
	}
	var a answer
	select {
	case a = <-answered:
	case <-timeout:
		inv.TimedOut = true
		s.logf("Timeout value of %s exceeded by function 'Functions.%s' (Id: '%s'). Initiating cancellation.", s.host.FunctionTimeout, fn, id)
		select {
		case a = <-answered:
			if a.resp != nil {
				a.resp.Body.Close()
			}
		case <-time.After(s.cfg.TimeoutGrace):
			s.logf("A function timeout has occurred. Restarting worker process executing invocationId '%s'.", id)
			_ = s.worker.restart("function timeout of " + id)
			<-answered
		}
		return fail(fmt.Errorf("%w: %s exceeded", errTimeout, s.host.FunctionTimeout))
	}
	if a.err != nil {
		return fail(a.err)
	}
	inv.Status = a.resp.StatusCode
	inv.Duration = time.Since(inv.Started)
	return a.resp, inv
}

// invoke sends a non-HTTP trigger's invocation envelope to /<Function>
// and reads the reply (ProcessDefaultInvocationRequest).
func (s *Sim) invoke(ctx context.Context, fn string, envelope map[string]any) Invocation {
	id := newGUID()
	if sys, ok := envelope["Metadata"].(map[string]any)["sys"].(map[string]any); ok {
		sys["RandGuid"] = newGUID()
	}
	body, err := json.Marshal(envelope)
	if err != nil {
		inv := Invocation{Function: fn, ID: id, Started: time.Now(), Err: err.Error()}
		s.record(inv)
		return inv
	}
	resp, inv := s.send(ctx, fn, id, func(base string) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, base+"/"+fn, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	})
	if resp == nil {
		return inv
	}
	defer resp.Body.Close()
	inv.Body, _ = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// EnsureSuccessStatusCode: the invocation fails, its Logs unread.
		inv.Err = fmt.Sprintf("Response status code does not indicate success: %d: %s", resp.StatusCode, bytes.TrimSpace(inv.Body))
		s.logf("Executed 'Functions.%s' (Failed, Id=%s): %s", fn, inv.ID, inv.Err)
		s.record(inv)
		return inv
	}
	var reply struct {
		Outputs     map[string]any
		Logs        []string
		ReturnValue any
	}
	if err := json.Unmarshal(inv.Body, &reply); err != nil {
		inv.Err = fmt.Sprintf("Invalid HttpResponseMessage: %v", err)
	}
	for _, l := range reply.Logs {
		s.logf("Functions.%s: %s", fn, l)
	}
	s.record(inv)
	return inv
}

// sysMetadata is the "sys" entry of every envelope's Metadata.
func sysMetadata(fn string, now time.Time) map[string]any {
	return map[string]any{"MethodName": fn, "UtcNow": now.UTC().Format(time.RFC3339Nano), "RandGuid": ""}
}

// hostValue is GetHttpScriptInvocationContextValue for a binding-data
// value: a date stays a date (an ISO string on the wire), anything
// JObject.FromObject takes (an object) stays as it is, everything else
// goes through JsonConvert.SerializeObject and is sent as that text: a
// string is encoded twice, a number becomes its digits as a string.
func hostValue(v any) any {
	switch x := v.(type) {
	case time.Time:
		// DateTimeOffset.Parse(value.ToString()): whole seconds.
		return x.Truncate(time.Second).Format("2006-01-02T15:04:05-07:00")
	case map[string]any:
		return x
	case json.RawMessage:
		if len(x) > 0 && x[0] == '{' {
			return x
		}
		return string(x)
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
