package hostsim

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// bodyLimitSetting is the app setting that replaces the host's 100 MiB
// request body limit (azure-docs functions-app-settings.md,
// FUNCTIONS_REQUEST_BODY_SIZE_LIMIT, in bytes).
const bodyLimitSetting = "FUNCTIONS_REQUEST_BODY_SIZE_LIMIT"

// startFront listens for clients (the host's own HTTP endpoint), over TLS
// when Config.TLS is set, and forwards the requests of HTTP functions to
// the worker.
func (s *Sim) startFront() error {
	s.maxBody = MaxRequestBodyBytes
	if v := s.settings[bodyLimitSetting]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("hostsim: %s=%q is not a positive number of bytes", bodyLimitSetting, v)
		}
		s.maxBody = n
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	scheme := "http"
	if s.cfg.TLS != nil {
		ln, scheme = tls.NewListener(ln, s.cfg.TLS), "https"
	}
	s.frontURL = scheme + "://" + ln.Addr().String()
	s.front = &http.Server{Handler: http.HandlerFunc(s.serveFront)}
	go s.front.Serve(ln)
	return nil
}

// serveFront is the host's routing (WebJobsRouteBuilder's ASP.NET routes
// under routePrefix) and ProcessHttpInAndOutInvocationRequest.
func (s *Sim) serveFront(w http.ResponseWriter, r *http.Request) {
	f := s.matchRoute(r.Method, r.URL.Path)
	if f == nil {
		http.NotFound(w, r)
		return
	}
	if !s.authorized(f, r) {
		// The host answers 401 with no body and never invokes the worker.
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	// The host forwards a body only when Content-Length > 0, read whole.
	var body []byte
	if r.ContentLength > 0 {
		if r.ContentLength > s.maxBody {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		var err error
		if body, err = io.ReadAll(io.LimitReader(r.Body, s.maxBody+1)); err != nil || int64(len(body)) != r.ContentLength {
			http.Error(w, "could not read the request body", http.StatusBadRequest)
			return
		}
	}
	resp, inv := s.send(r.Context(), f.Name, newGUID(), func(base string) (*http.Request, error) {
		req, err := http.NewRequest(r.Method, base+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		for k, vs := range r.Header {
			switch http.CanonicalHeaderKey(k) {
			case "Connection", "Transfer-Encoding", "Content-Length", "Keep-Alive", "Te", "Trailer", "Upgrade":
				continue
			}
			req.Header[k] = vs
		}
		if len(body) == 0 {
			req.Body, req.ContentLength = http.NoBody, 0
		}
		return req, nil
	})
	if resp == nil {
		// The host answers a failed HTTP invocation 500.
		http.Error(w, "Functions."+f.Name+" failed: "+inv.Err, http.StatusInternalServerError)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	var tee bytes.Buffer
	_, _ = io.Copy(w, io.TeeReader(resp.Body, &limited{&tee, 64 << 10}))
	inv.Body = tee.Bytes()
	if resp.StatusCode >= 500 {
		inv.Err = fmt.Sprintf("status %d", resp.StatusCode)
	}
	s.record(inv)
}

// limited writes up to n bytes to w and drops the rest.
type limited struct {
	w *bytes.Buffer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// matchRoute finds the HTTP function whose route template and methods
// match: literal segments compared in any case, {param} one non-empty
// segment, {param?} optional at the end, {*rest} the rest; a trailing slash
// is allowed. The methods of function.json compare in any case; none
// listed means any.
func (s *Sim) matchRoute(method, path string) *Function {
	prefix := "/" + s.host.RoutePrefix
	if s.host.RoutePrefix == "" {
		prefix = ""
	}
	if len(path) < len(prefix) || !strings.EqualFold(path[:len(prefix)], prefix) {
		return nil
	}
	rest := strings.Trim(path[len(prefix):], "/")
	if len(path) > len(prefix) && path[len(prefix)] != '/' {
		return nil
	}
	for _, f := range s.fns {
		if f.Trigger.Type != "httpTrigger" || !methodAllowed(f.Trigger.Methods, method) {
			continue
		}
		if templateMatches(strings.Trim(f.Trigger.Route, "/"), rest) {
			return f
		}
	}
	return nil
}

func methodAllowed(methods []string, m string) bool {
	if len(methods) == 0 {
		return true
	}
	for _, x := range methods {
		if strings.EqualFold(x, m) {
			return true
		}
	}
	return false
}

func templateMatches(template, path string) bool {
	tsegs := strings.Split(template, "/")
	var psegs []string
	if path != "" {
		psegs = strings.Split(path, "/")
	}
	for i, t := range tsegs {
		isParam := strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}")
		name := strings.Trim(t, "{}")
		switch {
		case isParam && strings.HasPrefix(name, "*"):
			return true
		case i >= len(psegs):
			return isParam && strings.HasSuffix(name, "?") && i == len(tsegs)-1
		case isParam:
			if psegs[i] == "" {
				return false
			}
		case !strings.EqualFold(t, psegs[i]):
			return false
		}
	}
	return len(psegs) == len(tsegs)
}
