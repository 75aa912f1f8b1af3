package server

import (
	_ "embed"
	"net/http"
)

// openAPIDoc is the OpenAPI 3 description of every API route; a test checks
// it against apiRoutes.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPI: GET /api/v1/openapi.json.
func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPIDoc)
}
