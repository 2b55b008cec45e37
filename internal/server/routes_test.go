package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/hartonomous/offload/internal/hostproto"
	"github.com/hartonomous/offload/internal/server"
)

func httpDef(name, route string, methods ...string) hostproto.Definition {
	return hostproto.Definition{Name: name, Bindings: []hostproto.Binding{
		{Type: hostproto.TriggerHTTP, Direction: "in", Name: "req", Methods: methods, Route: route},
		{Type: "http", Direction: "out", Name: "res"},
	}}
}

// Routes come from the bindings as the host reads them: no route is the
// function's name, no methods is every method, and a function.json the
// server could not match as ASP.NET does is refused at start.
func TestRoutesFromBindings(t *testing.T) {
	ok := func(c echo.Context) error { return c.String(http.StatusOK, c.Param("id")) }
	defs := []hostproto.Definition{httpDef("Ping", ""), httpDef("Item", "items/{id}", "get"), httpDef("Page", "page/{view?}", "get")}
	srv, err := server.New(server.Config{}, defs, static{server.Functions{"Ping": {HTTP: ok}, "Item": {HTTP: ok}, "Page": {HTTP: ok}}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{srv: srv}
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		if rec := f.do(t, req{method: m, path: "/api/ping"}); rec.Code != http.StatusOK {
			t.Errorf("%s /api/ping = %d", m, rec.Code)
		}
	}
	if rec := f.do(t, req{method: http.MethodGet, path: "/API/Items/A7"}); rec.Code != http.StatusOK || rec.Body.String() != "A7" {
		t.Errorf("GET /API/Items/A7 = %d %q", rec.Code, rec.Body)
	}
	// An optional last parameter: the route with and without it.
	if rec := f.do(t, req{method: http.MethodGet, path: "/api/Page"}); rec.Code != http.StatusOK || rec.Body.String() != "" {
		t.Errorf("GET /api/Page = %d %q", rec.Code, rec.Body)
	}
	if rec := f.do(t, req{method: http.MethodGet, path: "/api/page/data/"}); rec.Code != http.StatusOK {
		t.Errorf("GET /api/page/data/ = %d", rec.Code)
	}
	if rec := f.do(t, req{method: http.MethodPost, path: "/api/items/1"}); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/items/1 = %d, want 405", rec.Code)
	}

	for _, bad := range [][]hostproto.Definition{
		{httpDef("A", "items/{id:int}")},
		{httpDef("A", "items/{id?}/more")},
		{httpDef("A", "files/{*rest}")},
		{httpDef("A", "x/y"), httpDef("B", "X/Y")},
		{{Name: "A", Bindings: []hostproto.Binding{{Type: "blobTrigger", Direction: "in", Name: "b"}}}},
		{{Name: "A", Bindings: []hostproto.Binding{{Type: "http", Direction: "out", Name: "res"}}}},
	} {
		if _, err := server.New(server.Config{}, bad, nil); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: err %v, want one line", bad, err)
		}
	}
}
