package desk

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestHandlerRoutes(t *testing.T) {
	h := New(Options{Product: "Support <Line>"})
	tests := []struct {
		name, method, path string
		status             int
		contentType        string
		contains           string
	}{
		{"root is the page", "GET", "/", 200, "text/html", "<title>Support &lt;Line&gt;</title>"},
		{"desk prefix is the page", "GET", "/desk/", 200, "text/html", `<meta name="hotline-api" content="/api/v1">`},
		{"desk without slash is the page", "GET", "/desk", 200, "text/html", `href="assets/desk.css"`},
		{"index by name", "GET", "/index.html", 200, "text/html", "<title>"},
		{"asset at root", "GET", "/assets/app.js", 200, "text/javascript", "identify"},
		{"asset under desk", "GET", "/desk/assets/desk.css", 200, "text/css", ".topic"},
		{"head", "HEAD", "/assets/api.js", 200, "text/javascript", ""},
		{"unknown file", "GET", "/assets/nope.js", 404, "text/plain", "not found"},
		{"escape attempt", "GET", "/desk/../../desk.go", 404, "text/plain", "not found"},
		{"post refused", "POST", "/", 405, "text/plain", "method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.contentType) {
				t.Errorf("content type %q, want %s", ct, tt.contentType)
			}
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("body lacks %q", tt.contains)
			}
			if got := rec.Header().Get("Content-Security-Policy"); !strings.Contains(got, "script-src 'self'") {
				t.Errorf("content security policy %q", got)
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no nosniff header")
			}
			if tt.status == 405 && rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", rec.Header().Get("Allow"))
			}
		})
	}
}

func TestHandlerDefaults(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !strings.Contains(rec.Body.String(), "<title>"+DefaultProduct+"</title>") {
		t.Errorf("default product name missing from the page")
	}
	rec = httptest.NewRecorder()
	New(Options{APIBase: "/hotline/api/v1"}).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !strings.Contains(rec.Body.String(), `content="/hotline/api/v1"`) {
		t.Errorf("API base not rendered into the page")
	}
}

// TestHandlerRevalidates checks that the page is revalidated, not cached
// blindly, and that an unchanged file costs only a 304.
func TestHandlerRevalidates(t *testing.T) {
	h := Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/assets/desk.js", nil))
	etag := rec.Header().Get("ETag")
	if etag == "" || rec.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, rec.Header().Get("Cache-Control"))
	}
	req := httptest.NewRequest("GET", "/desk/assets/desk.js", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("status %d, want 304", rec.Code)
	}
}

// TestAssetsResolve checks that every file the page loads is embedded: the
// index's links and scripts, and every module import between scripts.
func TestAssetsResolve(t *testing.T) {
	index, err := static.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:href|src)="(assets/[^"]+)"`).FindAllSubmatch(index, -1)
	if len(refs) < 2 {
		t.Fatalf("index references %d assets, want the stylesheet and the script", len(refs))
	}
	for _, m := range refs {
		if _, err := fs.Stat(static, "static/"+string(m[1])); err != nil {
			t.Errorf("index.html: %s: %v", m[1], err)
		}
	}
	imports := regexp.MustCompile(`(?m)^import .* from '\./([^']+)';$`)
	scripts, err := fs.Glob(static, "static/assets/*.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range scripts {
		body, err := static.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range imports.FindAllSubmatch(body, -1) {
			if _, err := fs.Stat(static, "static/assets/"+string(m[1])); err != nil {
				t.Errorf("%s imports %s: %v", name, m[1], err)
			}
		}
		// The content security policy forbids eval and inline handlers;
		// a script relying on them would fail only in the browser.
		if regexp.MustCompile(`\beval\(|new Function\(|\.innerHTML\s*=`).Match(body) {
			t.Errorf("%s uses eval, new Function or innerHTML", name)
		}
	}
}

// BenchmarkServe measures a page load's two costs: the full index and a
// revalidated (304) script.
func BenchmarkServe(b *testing.B) {
	h := Handler()
	b.Run("index", func(b *testing.B) {
		req := httptest.NewRequest("GET", "/desk/", nil)
		for b.Loop() {
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
	})
	b.Run("not-modified", func(b *testing.B) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/assets/desk.js", nil))
		req := httptest.NewRequest("GET", "/assets/desk.js", nil)
		req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
		for b.Loop() {
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
	})
}
