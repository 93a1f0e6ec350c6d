package admin

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
)

// policyForm is the policy editor: the values as typed, so a form with
// errors shows them back, and the error of each field next to it.
type policyForm struct {
	Values map[string]string
	Errors map[string]string
	// Ceilings are the operator's ceilings on the tenant, shown with the
	// form: the policy cannot exceed the first four.
	Ceilings []ceilingRow
}

// ceilingRow is one of the operator's ceilings as the policy page shows it.
type ceilingRow struct {
	Name, Label, Value, Bounds string
}

// ceilingLabels name each ceiling (tenants.LimitFields) on the page, with
// what it bounds.
var ceilingLabels = map[string][2]string{
	"max_data_bytes":        {"Max data bytes", "the policy's max data bytes"},
	"max_sessions_per_user": {"Max sessions per user", "the policy's cap (0, unlimited, is above it)"},
	"idle_timeout":          {"Idle timeout", "the policy's idle timeouts (remember-me and impersonation too), seconds"},
	"absolute_timeout":      {"Absolute timeout", "the policy's absolute timeouts (remember-me and impersonation too), seconds"},
	"live_sessions":         {"Live sessions", "the tenant's live sessions (checked every few seconds)"},
	"retiring_keys":         {"Retiring keys", "retiring signing keys; a rotation at it is refused"},
	"events_per_minute":     {"Events a minute", "security events stored a minute"},
	"requests_per_second":   {"Requests a second", "API requests a second, per instance"},
	"webhook_endpoints":     {"Webhook endpoints", "the tenant's webhook endpoints"},
}

func ceilingRows(l tenants.Limits) []ceilingRow {
	rows := make([]ceilingRow, 0, len(tenants.LimitFields))
	for _, f := range tenants.LimitFields {
		lbl := ceilingLabels[f.Name]
		rows = append(rows, ceilingRow{Name: f.Name, Label: lbl[0], Value: strconv.Itoa(f.Get(l)), Bounds: lbl[1]})
	}
	return rows
}

func policyValues(p tenants.Policy) map[string]string {
	v := map[string]string{
		"idle_timeout":          strconv.Itoa(p.IdleTimeout),
		"absolute_timeout":      strconv.Itoa(p.AbsoluteTimeout),
		"max_sessions_per_user": strconv.Itoa(p.MaxSessionsPerUser),
		"on_limit":              string(p.OnLimit),
		"rolling":               strconv.FormatBool(p.Rolling),
		"binding.user_agent":    string(p.Binding.UserAgent),
		"binding.ip":            string(p.Binding.IP),
		"max_data_bytes":        strconv.Itoa(p.MaxDataBytes),
		"min_aal":               strconv.Itoa(max(p.MinAAL, 1)),
	}
	for prefix, l := range map[string]tenants.Lifetime{"remember_me.": p.RememberMe, "impersonation.": p.Impersonation} {
		v[prefix+"idle_timeout"], v[prefix+"absolute_timeout"] = "", ""
		if !l.IsZero() {
			v[prefix+"idle_timeout"], v[prefix+"absolute_timeout"] = strconv.Itoa(l.IdleTimeout), strconv.Itoa(l.AbsoluteTimeout)
		}
	}
	return v
}

func (s *server) policyPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	s.render(w, r, c, http.StatusOK, "policy", page{Title: "Policy", Nav: "policy",
		Data: policyForm{Values: policyValues(c.Tenant.Policy), Ceilings: ceilingRows(c.Tenant.Limits)}})
	return nil
}

// savePolicy replaces the policy through tenants.Service, which validates
// it exactly as PUT /v1/policy does, ceilings included; its field errors
// are shown next to the fields.
func (s *server) savePolicy(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	f := r.PostForm
	form := policyForm{Values: map[string]string{}, Errors: map[string]string{}, Ceilings: ceilingRows(c.Tenant.Limits)}
	integer := func(name string) int {
		v := strings.TrimSpace(f.Get(name))
		form.Values[name] = v
		n, err := strconv.Atoi(v)
		if err != nil {
			form.Errors[name] = "must be a whole number"
		}
		return n
	}
	// A lifetime (remember_me., impersonation.) is both timeouts or
	// neither: neither is none for remember-me, the default for
	// impersonation (tenants.Policy.Filled).
	lifetime := func(prefix string) tenants.Lifetime {
		idleName, absName := prefix+"idle_timeout", prefix+"absolute_timeout"
		idle, abs := strings.TrimSpace(f.Get(idleName)), strings.TrimSpace(f.Get(absName))
		if idle == "" && abs == "" {
			form.Values[idleName], form.Values[absName] = "", ""
			return tenants.Lifetime{}
		}
		l := tenants.Lifetime{IdleTimeout: integer(idleName), AbsoluteTimeout: integer(absName)}
		for _, name := range []string{idleName, absName} {
			if form.Values[name] == "" {
				form.Errors[name] = "is needed with the other timeout (leave both empty for " + map[string]string{"remember_me.": "none", "impersonation.": "the default"}[prefix] + ")"
			}
		}
		return l
	}
	minAAL := 0 // left out: 1 (tenants.Policy.Filled)
	if v := strings.TrimSpace(f.Get("min_aal")); v != "" {
		form.Values["min_aal"] = v
		if minAAL, _ = strconv.Atoi(v); minAAL != 1 && minAAL != 2 {
			form.Errors["min_aal"] = "must be 1 or 2"
		}
	}
	p := tenants.Policy{
		IdleTimeout:        integer("idle_timeout"),
		AbsoluteTimeout:    integer("absolute_timeout"),
		MaxSessionsPerUser: integer("max_sessions_per_user"),
		MaxDataBytes:       integer("max_data_bytes"),
		OnLimit:            tenants.OnLimit(f.Get("on_limit")),
		Rolling:            f.Get("rolling") == "true",
		Binding: tenants.Binding{
			UserAgent: tenants.BindingMode(f.Get("binding.user_agent")),
			IP:        tenants.BindingMode(f.Get("binding.ip")),
		},
		MinAAL:        minAAL,
		RememberMe:    lifetime("remember_me."),
		Impersonation: lifetime("impersonation."),
	}
	form.Values["on_limit"] = string(p.OnLimit)
	form.Values["rolling"] = strconv.FormatBool(p.Rolling)
	form.Values["binding.user_agent"] = string(p.Binding.UserAgent)
	form.Values["binding.ip"] = string(p.Binding.IP)
	// The domain's own validation (the one PUT /v1/policy uses) names the
	// remaining bad fields, also when some did not even parse.
	err := p.Validate()
	if err == nil && len(form.Errors) == 0 {
		if _, err = s.Tenants.PutPolicy(r.Context(), c.TenantID, p, s.actor(r, c.P)); err == nil {
			return s.redirect(w, r, "/admin/t/"+c.TenantID+"/policy", "policy_saved", "")
		}
	}
	if err != nil && !fault.Is(err, fault.InvalidRequest) {
		return err
	}
	for k, v := range fieldErrors(err) {
		if _, dup := form.Errors[k]; !dup {
			form.Errors[k] = v
		}
	}
	s.render(w, r, c, http.StatusBadRequest, "policy", page{Title: "Policy", Nav: "policy", Data: form,
		Flash: &flash{Kind: "error", Text: "The policy was not saved: fix the fields marked below."}})
	return nil
}
