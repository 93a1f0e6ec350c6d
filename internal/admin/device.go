package admin

import (
	"strconv"
	"strings"

	"github.com/mileusna/useragent"
)

// DeviceLabel turns a user agent into a readable device label, like
// "Chrome 126 on macOS" or "Safari on iPhone", with
// github.com/mileusna/useragent (pure Go, no data files, maintained). The
// app wires it as the session engine's Labeler, so the REST API's
// device.label and the admin UI agree.
func DeviceLabel(ua string) string {
	if strings.TrimSpace(ua) == "" {
		return ""
	}
	p := useragent.Parse(ua)
	browser := p.Name
	if browser == "" {
		browser = "Unknown browser"
	}
	if v := p.VersionNo.Major; v > 0 && !p.Bot {
		browser += " " + strconv.Itoa(v)
	}
	if p.Bot {
		return browser + " (bot)"
	}
	where := p.OS
	if p.Device != "" && (p.Mobile || p.Tablet) {
		where = p.Device
	}
	if where == "" {
		return browser
	}
	return browser + " on " + where
}
