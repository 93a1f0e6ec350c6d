package admin

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/sessiond/sessiond/internal/webhooks"
)

// recentDeliveries is how many deliveries the page shows per endpoint.
const recentDeliveries = 10

type webhookRow struct {
	webhooks.Endpoint
	Deliveries []webhooks.Delivery
}

type webhooksData struct {
	Endpoints   []webhookRow
	Created     *webhooks.Endpoint
	Secret      string // shown once, right after creation
	URL         string
	Description string
	Errors      map[string]string
}

func (s *server) webhooksData(r *http.Request, c *reqCtx) (webhooksData, error) {
	list, err := s.Webhooks.Store.ListEndpoints(r.Context(), c.TenantID)
	if err != nil {
		return webhooksData{}, err
	}
	d := webhooksData{Errors: map[string]string{}}
	for _, ep := range list {
		ds, err := s.Webhooks.Store.Deliveries(r.Context(), c.TenantID, ep.ID, recentDeliveries)
		if err != nil {
			return webhooksData{}, err
		}
		d.Endpoints = append(d.Endpoints, webhookRow{Endpoint: ep, Deliveries: ds})
	}
	return d, nil
}

// webhooksPage lists the tenant's endpoints with their recent deliveries.
func (s *server) webhooksPage(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	d, err := s.webhooksData(r, c)
	if err != nil {
		return err
	}
	s.render(w, r, c, http.StatusOK, "webhooks", page{Title: "Webhooks", Nav: "webhooks", Data: d})
	return nil
}

// createWebhook registers an endpoint and shows its signing secret on the
// page it answers with (never in a redirect, a cookie or a URL).
func (s *server) createWebhook(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	in := webhooks.NewEndpoint{URL: strings.TrimSpace(r.PostForm.Get("url")), Description: strings.TrimSpace(r.PostForm.Get("description"))}
	ep, secret, err := s.Webhooks.Create(r.Context(), c.TenantID, in)
	if err != nil {
		fe := fieldErrors(err)
		if fe == nil {
			return err
		}
		d, lerr := s.webhooksData(r, c)
		if lerr != nil {
			return lerr
		}
		d.URL, d.Description, d.Errors = in.URL, in.Description, fe
		s.render(w, r, c, http.StatusBadRequest, "webhooks", page{Title: "Webhooks", Nav: "webhooks", Data: d})
		return nil
	}
	d, err := s.webhooksData(r, c)
	if err != nil {
		return err
	}
	d.Created, d.Secret = &ep, secret
	s.render(w, r, c, http.StatusCreated, "webhooks", page{Title: "Webhooks", Nav: "webhooks", Data: d,
		Flash: &flash{Kind: "ok", Text: "Endpoint " + ep.ID + " created. Copy its signing secret now: it is shown only once."}})
	return nil
}

// testWebhook queues a webhook.test message to one endpoint.
func (s *server) testWebhook(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	id := r.PathValue("id")
	if _, err := s.Webhooks.SendTest(r.Context(), c.TenantID, id); err != nil {
		return err
	}
	return s.redirect(w, r, "/admin/t/"+c.TenantID+"/webhooks", "webhook_test_sent", flashSafe(id))
}

// redeliverWebhook sends one delivery again, with its webhook-id.
func (s *server) redeliverWebhook(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	id, did := r.PathValue("id"), r.PathValue("did")
	n, err := strconv.ParseInt(did, 10, 64)
	if err != nil || n <= 0 {
		return errNotFound
	}
	if err := s.Webhooks.Redeliver(r.Context(), c.TenantID, id, n); err != nil {
		return err
	}
	return s.redirect(w, r, "/admin/t/"+c.TenantID+"/webhooks", "webhook_redelivered", flashSafe(did))
}

// deleteWebhook removes an endpoint and its queued deliveries.
func (s *server) deleteWebhook(w http.ResponseWriter, r *http.Request, c *reqCtx) error {
	id := r.PathValue("id")
	if err := s.Webhooks.Store.DeleteEndpoint(r.Context(), c.TenantID, id); err != nil {
		return err
	}
	return s.redirect(w, r, "/admin/t/"+c.TenantID+"/webhooks", "webhook_deleted", flashSafe(id))
}
