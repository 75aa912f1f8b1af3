package server

import (
	"embed"
	"io/fs"
	"net/http"
)

// The dashboard's page, script and style ship inside the binary: no CDN,
// and it works offline.
//
//go:embed dashboard
var dashboardFiles embed.FS

// dashboard serves the web dashboard at /.
func dashboard() http.Handler {
	sub, err := fs.Sub(dashboardFiles, "dashboard")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		files.ServeHTTP(w, r)
	})
}
