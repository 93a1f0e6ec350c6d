package admin

import (
	"net/http"
	"time"

	"github.com/sessiond/sessiond/internal/adminauth"
)

// Known-device cookies: adminauth issues and checks their values; here they
// are carried to and from the browser.
const (
	deviceCookieTLS   = "__Host-sessiond_device"
	deviceCookiePlain = "sessiond_device"
)

func (s *server) deviceCookieName(r *http.Request) string {
	if s.isTLS(r) {
		return deviceCookieTLS
	}
	return deviceCookiePlain
}

// deviceCookie is the known-device cookie the browser sent, or "".
func (s *server) deviceCookie(r *http.Request) string {
	ck, err := r.Cookie(s.deviceCookieName(r))
	if err != nil {
		return ""
	}
	return ck.Value
}

// setDeviceCookie stores value as the browser's known-device cookie: the
// flags of the session cookie, and a Max-Age, since it must outlive the
// browser's session.
func (s *server) setDeviceCookie(w http.ResponseWriter, r *http.Request, value string) {
	http.SetCookie(w, &http.Cookie{
		Name: s.deviceCookieName(r), Value: value, Path: "/", MaxAge: int(adminauth.DeviceLifetime / time.Second),
		HttpOnly: true, Secure: s.isTLS(r), SameSite: http.SameSiteStrictMode,
	})
}
