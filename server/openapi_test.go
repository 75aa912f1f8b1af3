package server

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
)

// TestOpenAPIMatchesRoutes checks the served OpenAPI document against the
// route table both ways: every route is described, and every described
// operation is a route.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("GET", "/api/v1/openapi.json", "")
	if r.status != http.StatusOK {
		t.Fatalf("openapi.json: %d", r.status)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	r.json(t, &doc)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi = %q", doc.OpenAPI)
	}
	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			var o struct {
				OperationID string                     `json:"operationId"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(op, &o); err != nil || o.OperationID == "" || len(o.Responses) == 0 {
				t.Errorf("%s %s: no operationId or responses", method, path)
			}
			described[strings.ToUpper(method)+" "+path] = true
		}
	}
	routed := map[string]bool{}
	for _, rt := range e.srv.apiRoutes() {
		routed[rt.method+" "+strings.ReplaceAll(rt.path, "...}", "}")] = true
	}
	var missing, extra []string
	for k := range routed {
		if !described[k] {
			missing = append(missing, k)
		}
	}
	for k := range described {
		if !routed[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing)+len(extra) > 0 {
		t.Fatalf("routes not in the OpenAPI document: %v; documented operations with no route: %v", missing, extra)
	}
}
