package admin

import (
	"net/http"

	"github.com/sessiond/sessiond/internal/events"
	"github.com/sessiond/sessiond/internal/tenants"
)

type dashboardData struct {
	Live        int64
	LiveErr     string
	Created     chart
	Failures    chart
	Recent      []events.Event
	Policy      tenants.Policy
	ActiveKey   string
	APIKeyCount int
}

// dashboard shows the tenant at a glance: live sessions, sessions created
// per hour and verify failures per hour by reason over the last 24 hours
// (from the events table), and the latest security events.
func (s *server) dashboard(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	ctx := r.Context()
	d := dashboardData{Policy: c.Tenant.Policy, APIKeyCount: len(c.Tenant.APIKeys)}
	if k, ok := c.Tenant.ActiveKey(); ok {
		d.ActiveKey = k.ID
	}
	n, err := s.Sessions.Count(ctx, c.TenantID)
	if err != nil {
		d.LiveErr = "unavailable"
		if c.Tenant.Tenant.Status == tenants.Suspended {
			d.LiveErr = "suspended"
		}
	}
	d.Live = n
	start := hourWindow(s.now())
	created, err := s.Counter.CountHourly(ctx, c.TenantID, start, []events.Type{typeCreated})
	if err != nil {
		return err
	}
	d.Created = stackedChart("Sessions created per hour", start, created,
		func(events.HourlyCount) string { return "created" }, []string{"created"}, "sessions created")
	failures, err := s.Counter.CountHourly(ctx, c.TenantID, start, failureTypes)
	if err != nil {
		return err
	}
	d.Failures = stackedChart("Verify failures per hour, by reason", start, failures, failureReason, failureReasons, "verify failures")
	if d.Recent, _, err = s.EventStore.ListEvents(ctx, events.Filter{TenantID: c.TenantID, Limit: 8}); err != nil {
		return err
	}
	s.render(w, r, c, http.StatusOK, "dashboard", page{Title: "Dashboard", Nav: "dashboard", Data: d})
	return nil
}
