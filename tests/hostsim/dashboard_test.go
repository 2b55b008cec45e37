package hostsim_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/hartonomous/offload/tests/hostsim"
	"github.com/hartonomous/offload/tests/testenv"
)

// The Dashboard function through the host with keys enforced: without a
// key both views are 401; opened in Chromium as the Functions convention
// has it (?code=), the page's script fetches its data through the host
// with that key as x-functions-key and renders it, and the key appears
// nowhere in the page.
func TestDashboardThroughTheHost(t *testing.T) {
	bin := testenv.Chromium(t)
	a := newApp(t, nil)
	a.seedSmall()
	const key = "host-key-dashboard-7c1"
	h := a.mustStart(hostsim.Config{NoQueues: true, Keys: &hostsim.Keys{Host: []string{key}}})
	for _, p := range []string{"/api/dashboard", "/api/dashboard/data"} {
		if code, b := h.do(t, http.MethodGet, p, nil, false); code != http.StatusUnauthorized {
			t.Fatalf("GET %s without a key: %d %s", p, code, b)
		}
	}
	dom := testenv.Headless(t, bin, h.URL()+"/api/Dashboard/?code="+key, "--dump-dom")
	doc, err := html.Parse(bytes.NewReader(dom))
	if err != nil {
		t.Fatal(err)
	}
	live := ""
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		for _, at := range n.Attr {
			if n.Data == "body" && at.Key == "data-live" {
				live = at.Val
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if live == "" || !strings.Contains(string(dom), "llama4-scout") {
		t.Fatalf("the page's script did not render data fetched through the host with the key:\n%.1500s", dom)
	}
	if strings.Contains(string(dom), key) {
		t.Fatal("the function key is in the page")
	}
}
