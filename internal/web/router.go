package web

import (
	"net/http"

	"github.com/gorilla/mux"
)

// NewRouter returns the process's one router, on which the REST API and
// the admin UI register their routes. It matches paths as sent (SkipClean):
// a path with "." or ".." segments is never cleaned or redirected to
// another resource (/v1/users/../sessions is a bad user id, not the
// tenant-wide listing).
func NewRouter() *mux.Router { return mux.NewRouter().SkipClean(true) }

// Named wraps the handler of the route template: it names the request's
// route for the access log (SetRoute) and gives the handler the route's
// variables as path values (r.PathValue), as http.ServeMux would.
func Named(template string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r, template)
		for k, v := range mux.Vars(r) {
			r.SetPathValue(k, v)
		}
		h.ServeHTTP(w, r)
	})
}
