package admin_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/apptest"
)

// With SESSIOND_PUBLIC_URL set, the origin check compares a browser's
// Origin with that URL, not with one built from the Host header (which a
// DNS-rebinding page or a misrouting proxy controls).
func TestOriginCheckUsesThePublicURLWhenSet(t *testing.T) {
	s := apptest.Start(t, apptest.Options{Dev: true})
	s.App.Config.PublicOrigin = "https://sessions.example.com"
	h, err := s.App.Handler()
	if err != nil {
		t.Fatal(err)
	}
	s.HTTP = httptest.NewServer(h)
	t.Cleanup(s.HTTP.Close)
	e := wrapServer(t, s)
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)

	signIn := func(host, origin string) page {
		r, _ := http.NewRequest("POST", e.srv.URL+"/admin/login",
			strings.NewReader(url.Values{"email": {"ops@acme.example"}, "password": {password}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", origin)
		if host != "" {
			r.Host = host
		}
		return e.newClient().do(r)
	}
	wantStatus(t, "Origin and Host agree on another site (DNS rebinding)", signIn("evil.example", "http://evil.example"), http.StatusForbidden)
	wantStatus(t, "Origin is the Host but not the public URL", signIn("", e.srv.URL), http.StatusForbidden)
	wantStatus(t, "Origin is the public URL", signIn("", "https://sessions.example.com"), http.StatusSeeOther)
}
