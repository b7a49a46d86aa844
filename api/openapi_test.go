package api

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
)

type openapiDocument struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

type openapiOperation struct {
	Security    *[]map[string][]string     `json:"security"`
	RequestBody *json.RawMessage           `json:"requestBody"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

// TestOpenAPIMatchesRoutes keeps the document true: every route the server
// registers is documented with its method, and nothing else is.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc openapiDocument
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	s := newEnv(t).srv
	var served, documented []string
	routes := map[string]route{}
	for _, rt := range s.routes() {
		served = append(served, rt.pattern)
		routes[rt.pattern] = rt
	}
	ops := map[string]openapiOperation{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			key := strings.ToUpper(method) + " " + path
			documented = append(documented, key)
			var op openapiOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			ops[key] = op
		}
	}
	sort.Strings(served)
	sort.Strings(documented)
	for _, p := range served {
		if !slices.Contains(documented, p) {
			t.Errorf("served but not documented: %s", p)
		}
	}
	for _, p := range documented {
		if !slices.Contains(served, p) {
			t.Errorf("documented but not served: %s", p)
		}
	}
	// Authentication as documented: public routes opt out of the global
	// bearer requirement, the rest document 401.
	for key, op := range ops {
		rt, ok := routes[key]
		if !ok {
			continue
		}
		public := op.Security != nil && len(*op.Security) == 0
		if public == rt.auth {
			t.Errorf("%s: documented public=%v, served auth=%v", key, public, rt.auth)
		}
		if _, has401 := op.Responses["401"]; rt.auth && !has401 {
			t.Errorf("%s: needs a token but documents no 401", key)
		}
		if strings.HasPrefix(key, "POST ") || strings.HasPrefix(key, "PUT ") {
			if _, has400 := op.Responses["400"]; !has400 {
				t.Errorf("%s: takes a body but documents no 400", key)
			}
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	rec := e.do(t, "GET", "/api/v1/openapi.json", "", "")
	if rec.Code != 200 || rec.Body.String() != string(openapiDoc) {
		t.Errorf("status %d, %d bytes", rec.Code, rec.Body.Len())
	}
}
