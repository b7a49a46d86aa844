// Package desk is the agent desk and the wallboard: a web page served by
// the daemon and embedded in the binary. The page is plain HTML, CSS and
// JavaScript modules written by hand, so nothing is built at runtime and
// nothing is fetched from outside the daemon: it talks only to the HTTP API
// under /api/v1 with the bearer token the user signs in with.
package desk

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// DefaultProduct is the name the page shows when Options.Product is empty.
const DefaultProduct = "Hotline"

// Options configures the page.
type Options struct {
	// Product is the name in the page title and header.
	Product string
	// APIBase is where the page finds the API; default "/api/v1". The page
	// is same-origin with the API: the content security policy allows no
	// other origin.
	APIBase string
}

// contentSecurityPolicy allows the page nothing but its own origin: no
// inline script or style, so a caller number or note that slipped past
// the page's escaping still cannot run.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// file is one embedded file, ready to serve.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// handler serves the embedded files. It is immutable after New, so it
// needs no lock.
type handler struct {
	files map[string]file // clean path without the mount prefix → file
}

// Handler is the page with default options.
func Handler() http.Handler { return New(Options{}) }

// New builds the page's handler. It answers GET and HEAD for "/", "/desk",
// "/desk/" and the files under them; the daemon mounts it at both "/" and
// "/desk/" and hands it the full path.
func New(opts Options) http.Handler {
	if opts.Product == "" {
		opts.Product = DefaultProduct
	}
	if opts.APIBase == "" {
		opts.APIBase = "/api/v1"
	}
	h := &handler{files: map[string]file{}}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static")
		if path.Ext(name) == ".html" {
			if body, err = render(name, body, opts); err != nil {
				return err
			}
		}
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		sum := sha256.Sum256(body)
		h.files[name] = file{body: body, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		// The files are compiled in: a failure here is a build defect that
		// the package's tests catch, never a runtime condition.
		panic(fmt.Sprintf("desk: load embedded page: %v", err))
	}
	return h
}

// pageData is what index.html is rendered with.
type pageData struct {
	Product string
	APIBase string
}

func render(name string, body []byte, opts Options) ([]byte, error) {
	tmpl, err := template.New(name).Parse(string(body))
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, pageData{Product: opts.Product, APIBase: opts.APIBase}); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return out.Bytes(), nil
}

// lookup maps a request path to an embedded file name.
func (h *handler) lookup(p string) (string, bool) {
	p = path.Clean("/" + p)
	if p == "/desk" || strings.HasPrefix(p, "/desk/") {
		p = strings.TrimPrefix(p, "/desk")
	}
	if p == "" || p == "/" {
		p = "/index.html"
	}
	_, ok := h.files[p]
	return p, ok
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := h.lookup(r.URL.Path)
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	f := h.files[name]
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("ETag", f.etag)
	// Revalidate every time: the files change with each release of the
	// daemon, and a stale script talking to a newer API is worse than a
	// 304 round trip.
	hdr.Set("Cache-Control", "no-cache")
	if name == "/index.html" {
		hdr.Set("X-Frame-Options", "DENY")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}
