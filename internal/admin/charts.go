package admin

import (
	"strconv"
	"time"

	"github.com/sessiond/sessiond/internal/events"
)

// chart is a bar chart, laid out in Go and drawn by the template as SVG
// (no script, no inline style: colours come from classes in app.css).
type chart struct {
	Title, Summary string
	Width, Height  int
	Bars           []bar
	Grid           []gridLine
	Ticks          []tick
	Legend         []legendItem
	Empty          bool
}

type bar struct {
	X, Y, W, H int
	Class      string
	Label      string // the <title> tooltip
}

type gridLine struct {
	Y     int
	Label string
}

type tick struct {
	X     int
	Label string
}

type legendItem struct {
	Class, Name string
	Total       int
}

const (
	chartW, chartH                = 720, 200
	padLeft, padRight             = 40, 8
	padTop, padBottom             = 10, 26
	hoursShown                    = 24
	plotW                         = chartW - padLeft - padRight
	plotH                         = chartH - padTop - padBottom
	slotW                         = plotW / hoursShown
	barW                          = slotW * 7 / 10
	reasonOther                   = "other"
	typeCreated       events.Type = events.SessionCreated
)

// failureReasons orders the verify failure reasons in the chart and legend.
var failureReasons = []string{"forged", "unknown", "expired_idle", "expired_absolute", "binding", "csrf", "reauth", "rate_limited", reasonOther}

// failureTypes are the events that count as verify failures.
var failureTypes = []events.Type{events.VerifyRejected, events.CSRFMismatch, events.ReauthRequired, events.GuessingThrottled}

// failureReason names the reason of one failure count.
func failureReason(c events.HourlyCount) string {
	switch c.Type {
	case events.CSRFMismatch:
		return "csrf"
	case events.ReauthRequired:
		return "reauth"
	case events.GuessingThrottled:
		return "rate_limited"
	}
	for _, r := range failureReasons {
		if r == c.Reason {
			return r
		}
	}
	return reasonOther
}

// hourWindow returns the first hour of the 24 shown, ending with now's hour.
func hourWindow(now time.Time) time.Time {
	return now.UTC().Truncate(time.Hour).Add(-(hoursShown - 1) * time.Hour)
}

// stackedChart lays out per-hour counts, stacked by series in order.
func stackedChart(title string, start time.Time, counts []events.HourlyCount, seriesOf func(events.HourlyCount) string, order []string, unit string) chart {
	perHour := make([]map[string]int, hoursShown)
	totals := map[string]int{}
	for i := range perHour {
		perHour[i] = map[string]int{}
	}
	for _, c := range counts {
		i := int(c.Hour.Sub(start) / time.Hour)
		if i < 0 || i >= hoursShown {
			continue
		}
		k := seriesOf(c)
		perHour[i][k] += c.Count
		totals[k] += c.Count
	}
	max, sum := 0, 0
	for _, h := range perHour {
		t := 0
		for _, n := range h {
			t += n
		}
		max = maxInt(max, t)
		sum += t
	}
	top := niceCeil(max)
	ch := chart{Title: title, Width: chartW, Height: chartH, Empty: sum == 0,
		Summary: strconv.Itoa(sum) + " " + unit + " in the last 24 hours"}
	for _, v := range []int{0, top / 2, top} {
		ch.Grid = append(ch.Grid, gridLine{Y: padTop + plotH - v*plotH/top, Label: strconv.Itoa(v)})
	}
	for i, h := range perHour {
		x := padLeft + i*slotW + (slotW-barW)/2
		base := padTop + plotH
		hour := start.Add(time.Duration(i) * time.Hour)
		for si, k := range order {
			n := h[k]
			if n == 0 {
				continue
			}
			bh := maxInt(1, n*plotH/top)
			base -= bh
			label := hour.Format("15:04") + " UTC: " + strconv.Itoa(n)
			if len(order) > 1 {
				label += " " + k
			}
			ch.Bars = append(ch.Bars, bar{X: x, Y: base, W: barW, H: bh, Class: "s" + strconv.Itoa(si), Label: label})
		}
		if i%6 == 0 || i == hoursShown-1 {
			ch.Ticks = append(ch.Ticks, tick{X: padLeft + i*slotW + slotW/2, Label: hour.Format("15:04")})
		}
	}
	if len(order) > 1 {
		for si, k := range order {
			if totals[k] > 0 {
				ch.Legend = append(ch.Legend, legendItem{Class: "s" + strconv.Itoa(si), Name: k, Total: totals[k]})
			}
		}
	}
	return ch
}

// niceCeil rounds n up to 1, 2 or 5 times a power of ten (at least 2, so the
// mid grid line is a whole number).
func niceCeil(n int) int {
	if n <= 2 {
		return 2
	}
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if m*p >= n && (m*p)%2 == 0 {
				return m * p
			}
		}
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}
