// Package dashboardtest checks a rendered dashboard page (the server's first
// view, or the DOM a browser built from it) against the page's JSON.
package dashboardtest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/net/html"
)

// Result is what Compare found.
type Result struct {
	Bound      int      // data-k elements compared
	Mismatches []string // "path: page "x", JSON "y""
	Texts      []string // every text node, for "shown as text" checks
	Elements   []string // every element name
}

// Compare walks doc and checks that each bound element's data-v is the
// JSON value at its path (resolving data-list items by position), skipping
// the paths skip returns true for (values that move with the clock).
// data is the page's JSON as plainly decoded (json.Unmarshal into any).
func Compare(doc *html.Node, data any, skip func(path string) bool) Result {
	var r Result
	walk(doc, data, "", skip, &r)
	return r
}

func walk(n *html.Node, scope any, prefix string, skip func(string) bool, r *Result) {
	switch n.Type {
	case html.TextNode:
		r.Texts = append(r.Texts, n.Data)
	case html.ElementNode:
		r.Elements = append(r.Elements, n.Data)
	}
	if n.Data == "template" {
		return
	}
	if k, ok := attr(n, "data-k"); ok && !skip(prefix+k) {
		r.Bound++
		if got, want := attrOr(n, "data-v"), jsRaw(lookup(scope, k)); got != want {
			r.Mismatches = append(r.Mismatches, fmt.Sprintf("%s%s: page %q, JSON %q", prefix, k, got, want))
		}
	}
	if l, ok := attr(n, "data-list"); ok {
		items, _ := lookup(scope, l).([]any)
		i := 0
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode || c.Data == "template" {
				continue
			}
			if i < len(items) {
				walk(c, items[i], fmt.Sprintf("%s%s.%d.", prefix, l, i), skip, r)
			}
			i++
		}
		if i != len(items) {
			r.Mismatches = append(r.Mismatches, fmt.Sprintf("%s%s: %d rows for %d items", prefix, l, i, len(items)))
		}
		return
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, scope, prefix, skip, r)
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func attrOr(n *html.Node, key string) string { v, _ := attr(n, key); return v }

func lookup(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch t := v.(type) {
		case map[string]any:
			v = t[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(t) {
				return nil
			}
			v = t[i]
		default:
			return nil
		}
	}
	return v
}

// jsRaw is JavaScript's String() of a plainly decoded JSON value.
func jsRaw(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case float64:
		b, _ := json.Marshal(t)
		return string(b)
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	}
	return ""
}
