package main

// The noisy-neighbour scenario's client side (scripts/bench --noisy): the
// noisy tenant's loads, its policy at the ceilings, the victim's event
// count. Every loop here is bounded in count and in time, and every target
// must be a loopback address. Output meant for scripts/bench is one line of
// shell assignments on stdout (NAME=VALUE ..., values quoted for the shell).

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loopback refuses a base URL whose host is not a loopback address: the
// benchmark's loads must never leave the machine.
func loopback(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	h := u.Hostname()
	if h == "localhost" {
		return nil
	}
	if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q is not a loopback URL; benchfill only loads 127.0.0.1, ::1 or localhost", base)
}

// shq quotes s for a POSIX shell.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// assign prints NAME=VALUE pairs (values shell-quoted) on one stdout line.
func assign(prefix string, kv ...any) {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s_%s=%s", prefix, kv[i], shq(fmt.Sprint(kv[i+1])))
	}
	fmt.Println(b.String())
}

// dataOf is a JSON object of exactly n bytes (n ≥ 11): {"blob":"xxx…"}.
func dataOf(n int) string {
	return `{"blob":"` + strings.Repeat("x", max(n-11, 0)) + `"}`
}

// randomIPv4 is a random unicast-looking IPv4 address (first octet 1–223).
func randomIPv4() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%d.%d.%d.%d", 1+int(b[0])%223, b[1], b[2], b[3])
}

// forgedToken is template with its last 16 characters replaced by random
// base64url ones (a well-formed token whose MAC cannot verify), or 64 random
// base64url characters when template is empty.
func forgedToken(template string) string {
	var b [48]byte
	_, _ = rand.Read(b[:])
	r := base64.RawURLEncoding.EncodeToString(b[:]) // 64 characters
	if len(template) < 24 {
		return r
	}
	return template[:len(template)-16] + r[:16]
}

// counters tallies a load's answers by status (0: no answer) and keeps the
// first unexpected error.
type counters struct {
	mu       sync.Mutex
	codes    map[int]int64
	lat      []time.Duration
	firstErr error
}

func (c *counters) add(status int, d time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.codes[status]++
	c.lat = append(c.lat, d)
	if err != nil && status != http.StatusTooManyRequests && c.firstErr == nil { // 429: counted, not an error
		c.firstErr = err
	}
}

// summary is "201:480 429:20" in status order.
func (c *counters) summary() string {
	keys := make([]int, 0, len(c.codes))
	for k := range c.codes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d:%d", k, c.codes[k]))
	}
	return strings.Join(parts, " ")
}

func (c *counters) count(pred func(int) bool) int64 {
	var n int64
	for k, v := range c.codes {
		if pred(k) {
			n += v
		}
	}
	return n
}

// loadCmd sends up to -n requests of one kind for at most -duration, at
// most -rate a second (0: as fast as -c connections go), and prints what
// came back: LOAD_sent, _ok (2xx), _r429, _codes, _secs, _p50_us, _p99_us.
//
//	create: POST /v1/sessions for -user (every session the same user) or
//	        "<prefix>-<i>", with -data-bytes of JSON data (0: none)
//	forge:  POST /v1/sessions/verify of a forged token (see forgedToken) with
//	        a random device.ip
func loadCmd(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	base := fs.String("url", "", "sessiond base URL (loopback only)")
	key := fs.String("key", "", "tenant API key")
	mode := fs.String("mode", "create", "create or forge")
	n := fs.Int64("n", 1000, "most requests to send")
	dur := fs.Duration("duration", 10*time.Second, "longest time to send for")
	rate := fs.Float64("rate", 0, "most requests a second (0: no limit)")
	conc := fs.Int("c", 2, "concurrent connections")
	user := fs.String("user", "", "create: the user of every session")
	prefix := fs.String("prefix", "load", `create: users "<prefix>-<i>" when -user is empty`)
	dataBytes := fs.Int("data-bytes", 0, "create: bytes of JSON data per session (0: none, else at least 11)")
	template := fs.String("template", "", "forge: a real token to forge look-alikes of")
	tag := fs.String("var", "load", "prefix of the printed shell variables")
	_ = fs.Parse(args)
	if *base == "" || *key == "" || *n < 1 || *conc < 1 || (*mode != "create" && *mode != "forge") {
		return errors.New("load: -url, -key, -n ≥ 1, -c ≥ 1 and -mode create|forge are required")
	}
	if err := loopback(*base); err != nil {
		return err
	}
	c := newClient(*base, *key, *conc)
	data := ""
	if *dataBytes > 0 {
		data = `"data":` + dataOf(*dataBytes) + `,`
	}
	body := func(i int64) []byte {
		if *mode == "forge" {
			return fmt.Appendf(nil, `{"token":%q,"device":{"user_agent":%q,"ip":%q}}`, forgedToken(*template), UserAgent, randomIPv4())
		}
		u := *user
		if u == "" {
			u = fmt.Sprintf("%s-%d", *prefix, i)
		}
		return fmt.Appendf(nil, `{"user_id":%q,%s"device":{"user_agent":%q,"ip":"10.%d.%d.%d"}}`,
			u, data, UserAgent, (i>>16)&255, (i>>8)&255, i&255)
	}
	path := "/v1/sessions"
	if *mode == "forge" {
		path = "/v1/sessions/verify"
	}
	cnt := &counters{codes: map[int]int64{}}
	var next atomic.Int64
	start := time.Now()
	deadline := start.Add(*dur)
	var wg sync.WaitGroup
	for range *conc {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= *n {
					return
				}
				if *rate > 0 {
					time.Sleep(time.Until(start.Add(time.Duration(float64(i) / *rate * float64(time.Second)))))
				}
				if time.Now().After(deadline) {
					return
				}
				t := time.Now()
				status, _, err := c.exchange(http.MethodPost, path, body(i), nil)
				if *mode == "forge" && status == http.StatusUnauthorized {
					err = nil // session_invalid: what a forgery should get
				}
				cnt.add(status, time.Since(t), err)
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if cnt.firstErr != nil {
		fmt.Fprintf(os.Stderr, "benchfill load (%s): first error: %.300s\n", *mode, cnt.firstErr)
	}
	var p50, p99 int64
	if len(cnt.lat) > 0 {
		p50, p99 = pct(cnt.lat, 50), pct(cnt.lat, 99)
	}
	assign(*tag, "sent", len(cnt.lat), "ok", cnt.count(func(s int) bool { return s/100 == 2 }),
		"r429", cnt.codes[http.StatusTooManyRequests], "codes", cnt.summary(),
		"secs", fmt.Sprintf("%.1f", secs), "p50_us", p50, "p99_us", p99)
	return nil
}

// probeDataCmd finds the largest session data (JSON object bytes, up to
// -max) that a create accepts: the policy's max_data_bytes may exceed what
// the request body limit lets through. At most 24 creates (binary search),
// for users "<prefix>-<i>"; prints PROBE_bytes (0: not even 11 bytes).
func probeDataCmd(args []string) error {
	fs := flag.NewFlagSet("probe-data", flag.ExitOnError)
	base := fs.String("url", "", "sessiond base URL (loopback only)")
	key := fs.String("key", "", "tenant API key")
	hi := fs.Int("max", 1<<20, "the largest data size to try")
	prefix := fs.String("prefix", "probe", "user id prefix")
	tag := fs.String("var", "probe", "prefix of the printed shell variable")
	_ = fs.Parse(args)
	if err := loopback(*base); err != nil {
		return err
	}
	c := newClient(*base, *key, 1)
	i := 0
	try := func(size int) (bool, error) {
		i++
		body := fmt.Appendf(nil, `{"user_id":"%s-%d","data":%s,"device":{"user_agent":%q,"ip":"10.9.9.9"}}`, *prefix, i, dataOf(size), UserAgent)
		err := c.doPatient(http.MethodPost, "/v1/sessions", body, nil)
		if s := statusOf(err); s/100 == 4 && s != http.StatusTooManyRequests {
			return false, nil
		}
		return err == nil, err
	}
	ok, err := try(*hi)
	if err != nil {
		return err
	}
	best := 0
	if ok {
		best = *hi
	} else {
		lo, top := 11, *hi // top is refused; lo is unknown until tried
		if ok, err = try(lo); err != nil {
			return err
		}
		if ok {
			for top-lo > max(lo/256, 1) && i < 24 {
				mid := lo + (top-lo)/2
				ok, err := try(mid)
				if err != nil {
					return err
				}
				if ok {
					lo = mid
				} else {
					top = mid
				}
			}
			best = lo
		}
	}
	assign(*tag, "bytes", best)
	return nil
}

// revokeUserCmd waits -delay, then logs -user out everywhere (DELETE
// /v1/users/{id}/sessions) and prints REVOKE_ms, REVOKE_status and
// REVOKE_count: the response's "count" when it has one, else the length of
// its "revoked" list (-1 when it has neither).
func revokeUserCmd(args []string) error {
	fs := flag.NewFlagSet("revoke-user", flag.ExitOnError)
	base := fs.String("url", "", "sessiond base URL (loopback only)")
	key := fs.String("key", "", "tenant API key")
	user := fs.String("user", "", "the user to log out everywhere")
	delay := fs.Duration("delay", 0, "wait this long first")
	tag := fs.String("var", "revoke", "prefix of the printed shell variables")
	_ = fs.Parse(args)
	if err := loopback(*base); err != nil {
		return err
	}
	c := newClient(*base, *key, 1)
	c.http.Timeout = 10 * time.Minute
	time.Sleep(*delay)
	var out struct {
		Revoked []json.RawMessage `json:"revoked"`
		Count   *int64            `json:"count"`
	}
	t := time.Now()
	status, _, err := c.exchange(http.MethodDelete, "/v1/users/"+url.PathEscape(*user)+"/sessions", nil, &out)
	ms := time.Since(t).Milliseconds()
	if status == 0 {
		return err
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchfill revoke-user: %.300s\n", err)
	}
	count := int64(-1)
	switch {
	case out.Count != nil:
		count = *out.Count
	case out.Revoked != nil:
		count = int64(len(out.Revoked))
	}
	assign(*tag, "ms", ms, "status", status, "count", count)
	return nil
}

// countEventsCmd counts the tenant's stored events (GET /v1/events, every
// page, at most -max-pages of 200), of -type if given and of users starting
// with -prefix if given. With -marker it first creates a session for that
// user and waits (at most -wait) until its session.created event is stored,
// so that what was queued before it has been written too; the marker's
// events are not counted. Prints EV_count, EV_types ("type:n ...") and
// EV_marker (1 when the marker's event was seen).
func countEventsCmd(args []string) error {
	fs := flag.NewFlagSet("count-events", flag.ExitOnError)
	base := fs.String("url", "", "sessiond base URL (loopback only)")
	key := fs.String("key", "", "tenant API key (admin scope)")
	typ := fs.String("type", "", "count only events of this type")
	prefix := fs.String("prefix", "", "count only events of users whose id starts with this")
	marker := fs.String("marker", "", "create a session for this user and wait for its event first")
	wait := fs.Duration("wait", 2*time.Minute, "longest wait for the marker's event")
	maxPages := fs.Int("max-pages", 5000, "most pages to read")
	tag := fs.String("var", "ev", "prefix of the printed shell variables")
	_ = fs.Parse(args)
	if err := loopback(*base); err != nil {
		return err
	}
	c := newClient(*base, *key, 1)
	seen := 0
	if *marker != "" {
		body := fmt.Appendf(nil, `{"user_id":%q,"device":{"user_agent":%q,"ip":"10.8.8.8"}}`, *marker, UserAgent)
		if err := c.doPatient(http.MethodPost, "/v1/sessions", body, nil); err != nil {
			return err
		}
		q := "/v1/events?limit=1&type=session.created&user_id=" + url.QueryEscape(*marker)
		for end := time.Now().Add(*wait); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			var page eventPage
			if err := c.doPatient(http.MethodGet, q, nil, &page); err != nil {
				return err
			}
			if len(page.Events) > 0 {
				seen = 1
				break
			}
		}
		if seen == 0 {
			fmt.Fprintf(os.Stderr, "benchfill count-events: the marker's event was not stored within %s (dropped?)\n", *wait)
		}
	}
	types := map[string]int64{}
	var total int64
	q := url.Values{"limit": {"200"}}
	if *typ != "" {
		q.Set("type", *typ)
	}
	for range *maxPages {
		var page eventPage
		if err := c.doPatient(http.MethodGet, "/v1/events?"+q.Encode(), nil, &page); err != nil {
			return err
		}
		for _, e := range page.Events {
			if (*marker != "" && e.UserID == *marker) || !strings.HasPrefix(e.UserID, *prefix) {
				continue
			}
			total++
			types[e.Type]++
		}
		if page.NextCursor == "" || len(page.Events) == 0 {
			break
		}
		q.Set("cursor", page.NextCursor)
	}
	names := make([]string, 0, len(types))
	for t := range types {
		names = append(names, t)
	}
	slices.Sort(names)
	parts := make([]string, 0, len(names))
	for _, t := range names {
		parts = append(parts, fmt.Sprintf("%s:%d", t, types[t]))
	}
	assign(*tag, "count", total, "types", strings.Join(parts, " "), "marker", seen)
	return nil
}

// eventPage is a page of GET /v1/events; ids are not read (their type may
// change between versions).
type eventPage struct {
	Events []struct {
		Type   string `json:"type"`
		UserID string `json:"user_id"`
	} `json:"events"`
	NextCursor string `json:"next_cursor"`
}

// policyCmd sets the tenant's policy by read-modify-write (fields it does not
// name are kept as the version returns them): first -set (NAME=JSON,...),
// which must be accepted; then, for each NAME=CEILING in -max in order, the
// largest value ≤ CEILING that PUT accepts, found by binary search (at most
// ~26 PUTs a field); a name also in -zero is first tried at 0 (unlimited).
// Prints POL_<name> for each -max field and POL_notes saying which values
// were refused.
func policyCmd(args []string) error {
	fs := flag.NewFlagSet("policy", flag.ExitOnError)
	base := fs.String("url", "", "sessiond base URL (loopback only)")
	key := fs.String("key", "", "tenant API key (admin scope)")
	set := fs.String("set", "", "NAME=JSON,... set as given")
	maxes := fs.String("max", "", "NAME=CEILING,... each the largest accepted value up to CEILING")
	zero := fs.String("zero", "", "NAME,... try 0 (unlimited) first")
	tag := fs.String("var", "pol", "prefix of the printed shell variables")
	_ = fs.Parse(args)
	if err := loopback(*base); err != nil {
		return err
	}
	c := newClient(*base, *key, 1)
	var pol map[string]any
	if err := c.do(http.MethodGet, "/v1/policy", nil, &pol); err != nil {
		return err
	}
	put := func(p map[string]any) (bool, error) {
		body, err := json.Marshal(p)
		if err != nil {
			return false, err
		}
		err = c.doPatient(http.MethodPut, "/v1/policy", body, nil)
		if s := statusOf(err); s/100 == 4 && s != http.StatusTooManyRequests && s != http.StatusUnauthorized {
			return false, nil
		}
		return err == nil, err
	}
	for _, kv := range splitList(*set) {
		name, raw, _ := strings.Cut(kv, "=")
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return fmt.Errorf("policy -set %s: %w", kv, err)
		}
		pol[name] = v
	}
	if ok, err := put(pol); err != nil || !ok {
		return fmt.Errorf("policy: PUT of the -set values refused (%v)", err)
	}
	zeros := splitList(*zero)
	var notes []string
	var out []any
	for _, kv := range splitList(*maxes) {
		name, raw, _ := strings.Cut(kv, "=")
		var ceiling int64
		if _, err := fmt.Sscan(raw, &ceiling); err != nil || ceiling < 1 {
			return fmt.Errorf("policy -max %s: want NAME=CEILING ≥ 1", kv)
		}
		v, note, err := highestAccepted(pol, name, ceiling, slices.Contains(zeros, name), put)
		if err != nil {
			return err
		}
		pol[name] = v
		if note != "" {
			notes = append(notes, note)
		}
		out = append(out, name, v)
	}
	out = append(out, "notes", strings.Join(notes, "; "))
	assign(*tag, out...)
	return nil
}

// highestAccepted sets pol[name] to the largest value PUT accepts: 0 when
// tryZero and it is accepted, else ceiling, else the binary-searched largest
// between the field's current (accepted) value and ceiling. note says what
// was refused ("" when the first try was accepted).
func highestAccepted(pol map[string]any, name string, ceiling int64, tryZero bool, put func(map[string]any) (bool, error)) (int64, string, error) {
	cur, _ := pol[name].(float64)
	try := func(v int64) (bool, error) {
		p := maps.Clone(pol)
		p[name] = v
		return put(p)
	}
	var refused []string
	if tryZero {
		ok, err := try(0)
		if err != nil || ok {
			return 0, "", err
		}
		refused = append(refused, "0")
	}
	ok, err := try(ceiling)
	if err != nil {
		return 0, "", err
	}
	if ok {
		return ceiling, noteOf(name, refused, ceiling), nil
	}
	refused = append(refused, fmt.Sprint(ceiling))
	lo, hi := int64(cur), ceiling // lo accepted (it is stored now), hi refused
	if lo < 1 || lo >= hi {
		lo = 1
		if ok, err := try(1); err != nil || !ok {
			return 0, "", fmt.Errorf("policy: %s=1 refused too (%v)", name, err)
		}
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		ok, err := try(mid)
		if err != nil {
			return 0, "", err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	if ok, err := try(lo); err != nil || !ok {
		return 0, "", fmt.Errorf("policy: %s=%d accepted once, refused now (%v)", name, lo, err)
	}
	return lo, noteOf(name, refused, lo), nil
}

func noteOf(name string, refused []string, got int64) string {
	if len(refused) == 0 {
		return ""
	}
	return fmt.Sprintf("%s %s refused, using %d", name, strings.Join(refused, " and "), got)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
