package sessions

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/sessiond/sessiond/internal/tenants"
)

// record is a session as stored in its Redis hash. Field names are those of
// docs/architecture.md; times are Unix milliseconds.
type record struct {
	uid  string
	ca   int64 // created_at
	ls   int64 // last seen
	at   int64 // auth_time, 0 if never authenticated
	exp  int64 // absolute deadline
	idle int64 // idle timeout, seconds
	iexp int64 // idle deadline
	ua   string
	ip   string
	ipn  string // IP prefix used for binding (/24 or /48)
	lbl  string
	data string
	ver  int64
	kid  string
}

// fields returns r as HSET arguments. Empty optional fields are left out.
func (r record) fields() []any {
	f := []any{
		"ca", r.ca, "ls", r.ls, "exp", r.exp, "idle", r.idle, "iexp", r.iexp,
		"data", r.data, "ver", r.ver, "kid", r.kid,
	}
	for _, kv := range []struct{ k, v string }{{"uid", r.uid}, {"ua", r.ua}, {"ip", r.ip}, {"ipn", r.ipn}, {"lbl", r.lbl}} {
		if kv.v != "" {
			f = append(f, kv.k, kv.v)
		}
	}
	if r.at != 0 {
		f = append(f, "at", r.at)
	}
	return f
}

// parseRecord reads a flat HGETALL reply (name, value, ...). ok is false
// when the session does not exist.
func parseRecord(flat []string) (record, bool) {
	var r record
	num := func(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }
	for i := 0; i+1 < len(flat); i += 2 {
		v := flat[i+1]
		switch flat[i] {
		case "uid":
			r.uid = v
		case "ca":
			r.ca = num(v)
		case "ls":
			r.ls = num(v)
		case "at":
			r.at = num(v)
		case "exp":
			r.exp = num(v)
		case "idle":
			r.idle = num(v)
		case "iexp":
			r.iexp = num(v)
		case "ua":
			r.ua = v
		case "ip":
			r.ip = v
		case "ipn":
			r.ipn = v
		case "lbl":
			r.lbl = v
		case "data":
			r.data = v
		case "ver":
			r.ver = num(v)
		case "kid":
			r.kid = v
		}
	}
	return r, r.exp != 0
}

// effective returns r under the tenant's policy pol now. It is the one
// definition of a session's deadlines that every read uses, and the verify,
// regenerate and claim scripts apply the same rule (effective() in
// common.lua): a policy tightened since the session began applies (idle
// deadline at most last seen + the policy's idle timeout, absolute deadline
// at most created + the policy's absolute timeout); a looser one never
// lengthens the session.
func (r record) effective(pol tenants.Policy) record {
	if pidle := int64(pol.IdleTimeout); pidle < r.idle {
		r.idle = pidle
		r.iexp = min(r.iexp, r.ls+pidle*1000)
	}
	r.exp = min(r.exp, r.ca+int64(pol.AbsoluteTimeout)*1000)
	r.iexp = min(r.iexp, r.exp)
	return r
}

// alive reports whether r is within both deadlines at now (ms).
func (r record) alive(now int64) bool { return now < r.exp && now < r.iexp }

// session returns the public view of r.
func (r record) session(id string) Session {
	s := Session{
		ID: id, UserID: r.uid,
		CreatedAt: msTime(r.ca), LastSeenAt: msTime(r.ls),
		ExpiresAt: msTime(r.exp), IdleExpiresAt: msTime(r.iexp),
		IdleTimeout: int(r.idle),
		Device:      Device{UserAgent: r.ua, IP: r.ip, Label: r.lbl},
		Data:        json.RawMessage(r.data),
		Version:     r.ver,
	}
	if r.at != 0 {
		t := msTime(r.at)
		s.AuthTime = &t
	}
	if len(s.Data) == 0 {
		s.Data = json.RawMessage("{}")
	}
	return s
}

func msTime(v int64) time.Time { return time.UnixMilli(v).UTC() }
