package admin

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// flash is a one-time message shown after an action.
type flash struct {
	Kind string // "ok", "info" or "error"
	Text string
}

// flashes are the only messages a flash cookie can name. The cookie holds a
// code and an optional id-like argument, never free text, so a forged cookie
// can at most show one of these.
var flashes = map[string]struct{ kind, format string }{
	"signed_in":            {"ok", "Welcome back, %s."},
	"signed_out":           {"info", "You are signed out."},
	"expired":              {"info", "Your session ended. Sign in again."},
	"tenant_unavailable":   {"error", "Your tenant is suspended or was deleted; your session was ended."},
	"revoked":              {"ok", "Session %s was revoked."},
	"others_revoked":       {"ok", "Logged out %s other session(s); the chosen one was kept."},
	"all_revoked":          {"ok", "Logged out everywhere: %s session(s) ended."},
	"impersonations_ended": {"ok", "Ended %s impersonated session(s); the user's own sessions were kept."},
	"policy_saved":         {"ok", "Policy saved. New sessions use it at once."},
	"key_rotated":          {"ok", "Key rotated: %s is now the active signing key."},
	"key_retired":          {"ok", "Key %s was retired; tokens it signed no longer verify."},
	"api_key_revoked":      {"ok", "API key %s was revoked."},
	"webhook_test_sent":    {"ok", "A webhook.test message is on its way to %s; its delivery shows below."},
	"webhook_redelivered":  {"ok", "Delivery %s is queued again, with the same webhook-id."},
	"webhook_deleted":      {"ok", "Endpoint %s was deleted with its queued deliveries."},
	"password_changed":     {"ok", "Password changed. Your other sessions were ended (%s)."},
	"my_others_revoked":    {"ok", "Logged out %s other session(s) of yours."},
	"tenant_suspended":     {"ok", "Tenant %s is suspended: its API calls get 403 and its sessions stop verifying."},
	"tenant_resumed":       {"ok", "Tenant %s is active again."},
	"admin_created":        {"ok", "Admin %s can now sign in."},
	"admin_removed":        {"ok", "Admin %s was removed and signed out everywhere."},
}

var flashArg = regexp.MustCompile(`^[A-Za-z0-9._@+|=-]{0,128}$`)

func (s *server) flashCookie(r *http.Request) string {
	if s.isTLS(r) {
		return "__Host-sessiond_flash"
	}
	return "sessiond_flash"
}

// setFlash remembers a message for the next page the browser shows.
func (s *server) setFlash(w http.ResponseWriter, r *http.Request, code, arg string) {
	if _, ok := flashes[code]; !ok || !flashArg.MatchString(arg) {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: s.flashCookie(r), Value: code + "~" + arg, Path: "/", MaxAge: 60,
		HttpOnly: true, Secure: s.isTLS(r), SameSite: http.SameSiteStrictMode,
	})
}

// takeFlash reads and clears the flash message, if any.
func (s *server) takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	ck, err := r.Cookie(s.flashCookie(r))
	if err != nil {
		return nil
	}
	http.SetCookie(w, &http.Cookie{
		Name: s.flashCookie(r), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.isTLS(r), SameSite: http.SameSiteStrictMode,
	})
	code, arg, _ := strings.Cut(ck.Value, "~")
	f, ok := flashes[code]
	if !ok || !flashArg.MatchString(arg) {
		return nil
	}
	text := f.format
	if strings.Contains(text, "%s") {
		text = fmt.Sprintf(text, arg)
	}
	return &flash{Kind: f.kind, Text: text}
}
