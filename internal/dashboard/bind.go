package dashboard

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/net/html"
)

// The page's bindings, the same in Go (first view) and in app.js (live):
//
//	data-k="path" data-f="format"  text = format(value at path); data-v = the raw value
//	data-a="attr:path,…"           attributes set to values (SVG geometry)
//	data-show="path"               hidden unless the value is true or a non-empty list
//	data-list="path"               one copy of the child <template> per item of the list
//
// A path is dot-separated keys and list indexes, relative to the list item
// inside a data-list. Values are only ever text nodes and attribute values:
// the renderer escapes them, and the script sets them with textContent and
// setAttribute.

// lookup is the value at a dotted path, nil when any step is missing.
func lookup(v any, path string) any {
	if path == "." {
		return v
	}
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

// raw is String(v) in JavaScript for the values a snapshot holds.
func raw(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	}
	return ""
}

func num(v any) float64 {
	f, _ := strconv.ParseFloat(raw(v), 64)
	return f
}

var binaryUnits = []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}

// round1 is (Math.round(v*10)/10).toFixed(1) for the non-negative values
// the page shows.
func round1(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', 1, 64) }

func fmtInt(v float64) string {
	s := strconv.FormatInt(int64(math.Trunc(v)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

func fmtBytes(v float64) string {
	u := 0
	for math.Abs(v) >= 1024 && u < len(binaryUnits)-1 {
		v /= 1024
		u++
	}
	if u == 0 {
		return fmtInt(v) + " B"
	}
	return round1(v) + " " + binaryUnits[u]
}

func fmtDur(v any) string {
	if v == nil {
		return "—"
	}
	s := int64(math.Round(num(v)))
	h, m := s/3600, (s%3600)/60
	switch {
	case h > 0:
		return fmtInt(float64(h)) + "h " + pad2(m) + "m"
	case m > 0:
		return strconv.FormatInt(m, 10) + "m " + pad2(s%60) + "s"
	}
	return strconv.FormatInt(s, 10) + "s"
}

func pad2(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

var fraction = regexp.MustCompile(`(\.\d+)?Z$`)

func fmtTime(v any) string {
	s := raw(v)
	if s == "" {
		return "never"
	}
	return fraction.ReplaceAllString(strings.Replace(s, "T", " ", 1), "Z")
}

// format is app.js's formats[f](v).
func format(f string, v any) string {
	switch f {
	case "int":
		return fmtInt(num(v))
	case "bytes":
		return fmtBytes(num(v))
	case "rate":
		return fmtBytes(num(v)) + "/s"
	case "num":
		return round1(num(v))
	case "pct":
		return round1(num(v)) + "%"
	case "dur":
		return fmtDur(v)
	case "time":
		return fmtTime(v)
	case "maybe":
		if v == nil {
			return "unknown"
		}
		return fmtInt(num(v))
	}
	return raw(v)
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func setAttr(n *html.Node, key, val string) {
	for i := range n.Attr {
		if n.Attr[i].Key == key {
			n.Attr[i].Val = val
			return
		}
	}
	n.Attr = append(n.Attr, html.Attribute{Key: key, Val: val})
}

// bindOne is app.js's bindOne.
func bindOne(n *html.Node, data any) {
	if k, ok := attr(n, "data-k"); ok {
		f, _ := attr(n, "data-f")
		v := lookup(data, k)
		for c := n.FirstChild; c != nil; c = n.FirstChild {
			n.RemoveChild(c)
		}
		n.AppendChild(&html.Node{Type: html.TextNode, Data: format(f, v)})
		setAttr(n, "data-v", raw(v))
	}
	if a, ok := attr(n, "data-a"); ok {
		for _, pair := range strings.Split(a, ",") {
			key, path, _ := strings.Cut(pair, ":")
			setAttr(n, key, raw(lookup(data, path)))
		}
	}
	if s, ok := attr(n, "data-show"); ok {
		v := lookup(data, s)
		list, isList := v.([]any)
		if !(v == true || isList && len(list) > 0) {
			setAttr(n, "hidden", "")
		}
	}
}

// bindTree is app.js's bind.
func bindTree(n *html.Node, data any) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode || c.Data == "template" {
			continue
		}
		bindOne(c, data)
		if l, ok := attr(c, "data-list"); ok {
			fill(c, lookup(data, l))
		} else {
			bindTree(c, data)
		}
	}
}

// fill is app.js's fill: a bound copy of the template per item.
func fill(n *html.Node, list any) {
	items, _ := list.([]any)
	var tpl *html.Node
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.Data == "template" {
			tpl = c
		}
	}
	if tpl == nil {
		return
	}
	for _, item := range items {
		for c := tpl.FirstChild; c != nil; c = c.NextSibling {
			cp := clone(c)
			n.AppendChild(cp)
			if cp.Type == html.ElementNode {
				bindOne(cp, item)
				bindTree(cp, item)
			}
		}
	}
}

func clone(n *html.Node) *html.Node {
	cp := &html.Node{Type: n.Type, DataAtom: n.DataAtom, Data: n.Data, Namespace: n.Namespace,
		Attr: append([]html.Attribute(nil), n.Attr...)}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		cp.AppendChild(clone(c))
	}
	return cp
}
