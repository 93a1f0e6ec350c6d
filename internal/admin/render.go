package admin

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	webadmin "github.com/sessiond/sessiond/web/admin"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/web"
)

// page is what every template gets.
type page struct {
	Title    string
	Nav      string // the active navigation item
	P        *principal
	Tenant   *tenants.Tenant // the tenant in scope, if any
	CSRF     string
	Flash    *flash
	Insecure bool // plain HTTP: the banner
	Now      time.Time
	Data     any
}

// layoutFiles are parsed with every page.
var layoutFiles = []string{"templates/layout.html", "templates/parts.html"}

// parsePages parses every page template once, each with the layout.
func (s *server) parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(webadmin.FS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		if name == layoutFiles[0] || name == layoutFiles[1] {
			continue
		}
		t, err := template.New("").Funcs(s.funcs()).ParseFS(webadmin.FS, append([]string{name}, layoutFiles...)...)
		if err != nil {
			return nil, err
		}
		if t.Lookup("layout") == nil || t.Lookup("content") == nil {
			return nil, fmt.Errorf("%s: no layout or content template", name)
		}
		pages[strings.TrimSuffix(strings.TrimPrefix(name, "templates/"), ".html")] = t
	}
	for _, want := range []string{"login", "error", "dashboard", "sessions", "user", "policy", "keys", "apikeys", "webhooks", "events", "account", "tenants", "admins"} {
		if pages[want] == nil {
			return nil, fmt.Errorf("missing template templates/%s.html", want)
		}
	}
	return pages, nil
}

func (s *server) funcs() template.FuncMap {
	return template.FuncMap{
		"asset":   s.assets.url,
		"rel":     func(t time.Time) string { return relTime(t, s.now()) },
		"exact":   exactTime,
		"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"derefT":  func(t *time.Time) time.Time { return *t },
		"seconds": humanSeconds,
		"add":     func(a, b int) int { return a + b },
		"dict": func(kv ...any) map[string]any {
			m := make(map[string]any, len(kv)/2)
			for i := 0; i+1 < len(kv); i += 2 {
				k, _ := kv[i].(string)
				m[k] = kv[i+1]
			}
			return m
		},
		"join": strings.Join,
		// methods lists a session's factors: "pwd, otp".
		"methods": func(fs []sessions.Factor) string {
			out := make([]string, len(fs))
			for i, f := range fs {
				out[i] = f.Method
			}
			return strings.Join(out, ", ")
		},
		"scopes": func(sc []tenants.Scope) string {
			out := make([]string, len(sc))
			for i, x := range sc {
				out[i] = string(x)
			}
			return strings.Join(out, ", ")
		},
		"short": func(s string, n int) string {
			if len(s) <= n {
				return s
			}
			return s[:n] + "…"
		},
	}
}

// render writes page name with status. The page is rendered to a buffer
// first, so a template error never sends half a page.
func (s *server) render(w http.ResponseWriter, r *http.Request, c *reqCtx, status int, name string, pg page) {
	t := s.pages[name]
	if c != nil {
		pg.P = c.P
		if c.Tenant != nil {
			tn := c.Tenant.Tenant
			pg.Tenant = &tn
		}
	}
	if pg.P != nil {
		pg.CSRF = pg.P.CSRF
	}
	pg.Insecure = s.insecureTransport(r)
	pg.Now = s.now()
	if pg.Flash == nil {
		pg.Flash = s.takeFlash(w, r)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", pg); err != nil {
		s.Log.Error("admin UI template failed", slog.String("request_id", web.RequestID(r.Context())),
			slog.String("template", name), slog.String("error", err.Error()))
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderError shows the error page, with the request id to quote.
func (s *server) renderError(w http.ResponseWriter, r *http.Request, c *reqCtx, status int, msg string) {
	title := http.StatusText(status)
	s.render(w, r, c, status, "error", page{Title: title, Data: map[string]any{
		"Status": status, "Title": title, "Message": msg, "RequestID": web.RequestID(r.Context()),
	}})
}

// fail answers a handler's error: its code's status (fault's table,
// which the API uses too) and its client-safe message; internal errors are
// logged and shown only generically, with the request id.
func (s *server) fail(w http.ResponseWriter, r *http.Request, c *reqCtx, err error) {
	code := fault.CodeOf(err)
	status := code.Status()
	msg := "Something went wrong on our side. It has been logged."
	var fe *fault.Error
	logAttrs := func() []any {
		return []any{slog.String("request_id", web.RequestID(r.Context())), slog.String("route", web.Route(r.Context())), slog.String("error", err.Error())}
	}
	switch {
	case code == fault.Unavailable:
		w.Header().Set("Retry-After", "2")
		msg = "A database sessiond depends on is unavailable. Try again in a moment."
		s.Log.Warn("admin UI: dependency unavailable", logAttrs()...)
	case status >= 500:
		s.Log.Error("admin UI: internal error", logAttrs()...)
	case code == fault.NotFound && err == errNotFound:
		msg = "There is no such page here."
	case asFault(err, &fe):
		msg = fe.Message
		if len(msg) > 0 {
			msg = strings.ToUpper(msg[:1]) + msg[1:]
		}
	}
	s.renderError(w, r, c, status, msg)
}

// notFound is the admin UI's 404 page.
func (s *server) notFound(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	return errNotFound
}

// redirect answers a POST with 303 to target, with a flash message.
func (s *server) redirect(w http.ResponseWriter, r *http.Request, target, flashCode, arg string) error {
	if flashCode != "" {
		s.setFlash(w, r, flashCode, arg)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

// relTime says how far t is from now, in words: "just now", "5 min ago",
// "in 3 h", "2 days ago".
func relTime(t, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < 45*time.Second:
		return "just now"
	case d < 90*time.Minute:
		s = strconv.Itoa(int((d+30*time.Second)/time.Minute)) + " min"
	case d < 36*time.Hour:
		s = strconv.Itoa(int((d+30*time.Minute)/time.Hour)) + " h"
	case d < 60*24*time.Hour:
		n := int((d + 12*time.Hour) / (24 * time.Hour))
		s = strconv.Itoa(n) + " days"
	default:
		n := int(d / (30 * 24 * time.Hour))
		s = strconv.Itoa(n) + " months"
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func exactTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// humanSeconds writes a duration in seconds the way people say it.
func humanSeconds(n int) string {
	d := time.Duration(n) * time.Second
	switch {
	case n%86400 == 0 && n >= 86400:
		return strconv.Itoa(n/86400) + " d"
	case n%3600 == 0 && n >= 3600:
		return strconv.Itoa(n/3600) + " h"
	case n%60 == 0 && n >= 60:
		return strconv.Itoa(n/60) + " min"
	}
	return d.String()
}
