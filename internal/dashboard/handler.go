package dashboard

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
)

// View names what a request asks for: the page ("" or "/") or its data.
const (
	ViewPage = ""
	ViewData = "data"
)

// Serve answers GET (and HEAD) for view: the page, or its JSON. Every answer
// carries the page's Content-Security-Policy and is never cached: it shows
// live numbers. A catalog that cannot be read is a 503 naming what failed,
// never a secret (the catalog's errors carry none).
func (s *Service) Serve(w http.ResponseWriter, r *http.Request, view string) {
	h := w.Header()
	h.Set("Content-Security-Policy", s.page.csp)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed: use GET")
		return
	}
	view = strings.Trim(strings.ToLower(view), "/")
	if view != ViewPage && view != ViewData {
		writeError(w, http.StatusNotFound, "not_found", "no such dashboard view (use api/dashboard or api/dashboard/data)")
		return
	}
	snap, err := s.Snapshot(r.Context())
	if err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "dashboard: snapshot failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "catalog_unavailable", err.Error())
		return
	}
	var buf bytes.Buffer
	if view == ViewData {
		h.Set("Content-Type", "application/json; charset=utf-8")
		err = json.NewEncoder(&buf).Encode(snap)
	} else {
		h.Set("Content-Type", "text/html; charset=utf-8")
		err = s.page.render(&buf, snap)
	}
	if err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "dashboard: render failed", "err", err)
		writeError(w, http.StatusInternalServerError, "render_failed", err.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(buf.Bytes())
	}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
		Code  string `json:"code"`
	}{msg, code})
}
