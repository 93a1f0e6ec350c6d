package web

import (
	"net/http"

	"github.com/gorilla/mux"
)

// Router is the process's one router, on which the REST API and the admin
// UI register their routes: gorilla/mux's, which it serves itself (see
// ServeHTTP).
type Router struct{ *mux.Router }

// NewRouter returns a Router that matches paths as sent (SkipClean): a path
// with "." or ".." segments is never cleaned or redirected to another
// resource (/v1/users/../sessions is a bad user id, not the tenant-wide
// listing).
func NewRouter() *Router { return &Router{mux.NewRouter().SkipClean(true)} }

// ServeHTTP serves req as mux.Router.ServeHTTP does a router that skips
// cleaning paths, except that the route's variables become req's path
// values (r.PathValue), as http.ServeMux sets them, instead of mux.Vars:
// mux would put them, and the route, each in a copy of the request.
func (rt *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var match mux.RouteMatch
	if !rt.Match(req, &match) || match.Handler == nil {
		if match.MatchErr == mux.ErrMethodMismatch {
			w.WriteHeader(http.StatusMethodNotAllowed)
		} else {
			http.NotFound(w, req)
		}
		return
	}
	for k, v := range match.Vars {
		req.SetPathValue(k, v)
	}
	match.Handler.ServeHTTP(w, req)
}

// Named wraps the handler of the route template: it names the request's
// route for the access log (SetRoute).
func Named(template string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r, template)
		h.ServeHTTP(w, r)
	})
}
