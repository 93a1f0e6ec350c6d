package admin_test

import (
	"html"
	"net/http"
	"regexp"
	"slices"
	"testing"

	"github.com/sessiond/sessiond/internal/events"
)

var (
	typeSelect = regexp.MustCompile(`(?s)<select id="type" name="type">(.*?)</select>`)
	typeOption = regexp.MustCompile(`<option value="([^"]*)"`)
)

func TestEventsPageFiltersByExactlyEveryEventType(t *testing.T) {
	e := newEnv(t, envOptions{dev: true})
	a := e.createTenant("Acme")
	e.createAdmin(a.ID, "ops@acme.example", password)
	c := e.newClient()
	c.login("ops@acme.example", password)

	p := c.get("/admin/t/" + a.ID + "/events")
	wantStatus(t, "events page", p, http.StatusOK)
	sel := typeSelect.FindStringSubmatch(p.Body)
	if sel == nil {
		t.Fatal("the events page has no type filter")
	}
	var options []events.Type
	for _, m := range typeOption.FindAllStringSubmatch(sel[1], -1) {
		if m[1] != "" { // "All types"
			options = append(options, events.Type(html.UnescapeString(m[1])))
		}
	}
	if !slices.Equal(options, events.Types()) {
		t.Errorf("the type filter offers %q,\nwant events.Types() = %q", options, events.Types())
	}
	for _, typ := range events.Types() {
		wantStatus(t, "filtering by "+string(typ), c.get("/admin/t/"+a.ID+"/events?type="+string(typ)), http.StatusOK)
	}
	wantStatus(t, "filtering by an unknown type", c.get("/admin/t/"+a.ID+"/events?type=session.nope"), http.StatusBadRequest)
}
