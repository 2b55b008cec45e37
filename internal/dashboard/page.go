package dashboard

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"golang.org/x/net/html"
)

var (
	//go:embed assets/page.html
	pageHTML string
	//go:embed assets/style.css
	styleCSS string
	//go:embed assets/app.js
	appJS string
)

// page is the document with its style and script inlined, and the
// Content-Security-Policy that allows exactly those two (by hash: no
// 'unsafe-inline', no 'unsafe-eval') and fetches to its own origin.
type page struct {
	doc string
	csp string
}

func newPage() (*page, error) {
	if !strings.Contains(pageHTML, "/*STYLE*/") || !strings.Contains(pageHTML, "/*SCRIPT*/") {
		return nil, fmt.Errorf("dashboard: page.html lost its style or script placeholder")
	}
	doc := strings.Replace(pageHTML, "/*STYLE*/", styleCSS, 1)
	doc = strings.Replace(doc, "/*SCRIPT*/", appJS, 1)
	csp := "default-src 'none'; script-src " + hashSource(appJS) + "; style-src " + hashSource(styleCSS) +
		"; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
	return &page{doc: doc, csp: csp}, nil
}

// hashSource is a CSP hash source for an inline element's exact text.
func hashSource(text string) string {
	sum := sha256.Sum256([]byte(text))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// render writes the page with snap bound into it, exactly as the script
// binds it in the browser (bind.go), so the first view needs no script.
func (p *page) render(w io.Writer, snap Snapshot) error {
	data, err := generic(snap)
	if err != nil {
		return err
	}
	root, err := html.Parse(strings.NewReader(p.doc))
	if err != nil {
		return fmt.Errorf("dashboard: parse page: %w", err)
	}
	body := find(root, "body")
	if body == nil {
		return fmt.Errorf("dashboard: page has no body")
	}
	bindTree(body, data)
	var buf bytes.Buffer
	if err := html.Render(&buf, root); err != nil {
		return fmt.Errorf("dashboard: render page: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// generic is snap as the browser sees it: its JSON, decoded into maps,
// slices, strings, bools and json.Numbers (kept as the JSON text, as
// String(number) gives it in JavaScript).
func generic(snap Snapshot) (any, error) {
	b, err := json.Marshal(snap)
	if err != nil {
		return nil, fmt.Errorf("dashboard: encode snapshot: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("dashboard: decode snapshot: %w", err)
	}
	return v, nil
}

// find is the first element named tag in n's subtree.
func find(n *html.Node, tag string) *html.Node {
	if n.Type == html.ElementNode && n.Data == tag {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := find(c, tag); f != nil {
			return f
		}
	}
	return nil
}
