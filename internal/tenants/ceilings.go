package tenants

import (
	"sort"
	"strconv"

	"github.com/sessiond/sessiond/internal/fault"
)

// Limits are the operator's ceilings on one tenant: what the tenant's own
// policy may not exceed, and what bounds the tenant's use of the
// deployment. A tenant cannot change them; only the operator can
// (PATCH /v1/tenants/{id}). Every field is at least 1.
type Limits struct {
	// MaxDataBytes bounds the policy's max_data_bytes.
	MaxDataBytes int `json:"max_data_bytes"`
	// MaxSessionsPerUser bounds the policy's max_sessions_per_user; under a
	// finite ceiling the policy cannot be 0 (unlimited).
	MaxSessionsPerUser int `json:"max_sessions_per_user"`
	// IdleTimeout and AbsoluteTimeout (seconds) bound the policy's.
	IdleTimeout     int `json:"idle_timeout"`
	AbsoluteTimeout int `json:"absolute_timeout"`
	// LiveSessions bounds the tenant's live sessions (approximately: see
	// docs and the create endpoint).
	LiveSessions int `json:"live_sessions"`
	// RetiringKeys bounds the keys still verifying after a rotation: a
	// rotation is refused while the keyring holds this many.
	RetiringKeys int `json:"retiring_keys"`
	// EventsPerMinute bounds the security events stored for the tenant.
	EventsPerMinute int `json:"events_per_minute"`
	// RequestsPerSecond bounds the tenant's API calls, per instance.
	RequestsPerSecond int `json:"requests_per_second"`
	// WebhookEndpoints bounds the tenant's webhook endpoints: creating one
	// more is refused.
	WebhookEndpoints int `json:"webhook_endpoints"`
}

// The deployment defaults of the ceilings (config takes them as the
// defaults of the SESSIOND_CEILING_* variables). New tenants' default policy
// fits under them.
const (
	DefaultCeilingMaxDataBytes       = 64 << 10
	DefaultCeilingMaxSessionsPerUser = 1000
	DefaultCeilingIdleTimeout        = 24 * 60 * 60      // 24 h
	DefaultCeilingAbsoluteTimeout    = 30 * 24 * 60 * 60 // 30 days
	DefaultCeilingLiveSessions       = 1_000_000
	DefaultCeilingRetiringKeys       = 10
	DefaultCeilingEventsPerMinute    = 6000
	DefaultCeilingRequestsPerSecond  = 1000
	DefaultCeilingWebhookEndpoints   = 10
)

// DefaultLimits returns the built-in deployment defaults.
func DefaultLimits() Limits {
	return Limits{
		MaxDataBytes:       DefaultCeilingMaxDataBytes,
		MaxSessionsPerUser: DefaultCeilingMaxSessionsPerUser,
		IdleTimeout:        DefaultCeilingIdleTimeout,
		AbsoluteTimeout:    DefaultCeilingAbsoluteTimeout,
		LiveSessions:       DefaultCeilingLiveSessions,
		RetiringKeys:       DefaultCeilingRetiringKeys,
		EventsPerMinute:    DefaultCeilingEventsPerMinute,
		RequestsPerSecond:  DefaultCeilingRequestsPerSecond,
		WebhookEndpoints:   DefaultCeilingWebhookEndpoints,
	}
}

// LimitOverrides are the ceilings the operator set on one tenant. A nil
// field follows the deployment default, so changing a SESSIOND_CEILING_*
// variable moves every tenant that has no override of its own.
type LimitOverrides struct {
	MaxDataBytes       *int `json:"max_data_bytes,omitempty"`
	MaxSessionsPerUser *int `json:"max_sessions_per_user,omitempty"`
	IdleTimeout        *int `json:"idle_timeout,omitempty"`
	AbsoluteTimeout    *int `json:"absolute_timeout,omitempty"`
	LiveSessions       *int `json:"live_sessions,omitempty"`
	RetiringKeys       *int `json:"retiring_keys,omitempty"`
	EventsPerMinute    *int `json:"events_per_minute,omitempty"`
	RequestsPerSecond  *int `json:"requests_per_second,omitempty"`
	WebhookEndpoints   *int `json:"webhook_endpoints,omitempty"`
}

// LimitsPatch changes ceilings by name (the JSON names of Limits): a number
// sets the tenant's own ceiling, null returns it to the deployment default,
// and a name left out is unchanged.
type LimitsPatch map[string]*int

// LimitField describes one ceiling: its JSON name, the range an operator
// may set it in, and how to reach it in Limits and LimitOverrides.
type LimitField struct {
	Name     string
	Min, Max int
	Unit     string // how the value reads: "bytes", "seconds", ...
	limit    func(*Limits) *int
	override func(*LimitOverrides) **int
}

// LimitFields lists every ceiling, in the order of Limits.
var LimitFields = []LimitField{
	{"max_data_bytes", 1, MaxDataBytesCap, "bytes",
		func(l *Limits) *int { return &l.MaxDataBytes }, func(o *LimitOverrides) **int { return &o.MaxDataBytes }},
	{"max_sessions_per_user", 1, MaxSessionsPerUserCap, "sessions",
		func(l *Limits) *int { return &l.MaxSessionsPerUser }, func(o *LimitOverrides) **int { return &o.MaxSessionsPerUser }},
	{"idle_timeout", 1, MaxTimeoutSeconds, "seconds",
		func(l *Limits) *int { return &l.IdleTimeout }, func(o *LimitOverrides) **int { return &o.IdleTimeout }},
	{"absolute_timeout", 1, MaxTimeoutSeconds, "seconds",
		func(l *Limits) *int { return &l.AbsoluteTimeout }, func(o *LimitOverrides) **int { return &o.AbsoluteTimeout }},
	{"live_sessions", 1, 1_000_000_000, "sessions",
		func(l *Limits) *int { return &l.LiveSessions }, func(o *LimitOverrides) **int { return &o.LiveSessions }},
	{"retiring_keys", 1, 1000, "keys",
		func(l *Limits) *int { return &l.RetiringKeys }, func(o *LimitOverrides) **int { return &o.RetiringKeys }},
	{"events_per_minute", 1, 100_000_000, "events a minute",
		func(l *Limits) *int { return &l.EventsPerMinute }, func(o *LimitOverrides) **int { return &o.EventsPerMinute }},
	{"requests_per_second", 1, 10_000_000, "requests a second",
		func(l *Limits) *int { return &l.RequestsPerSecond }, func(o *LimitOverrides) **int { return &o.RequestsPerSecond }},
	{"webhook_endpoints", 1, 1000, "endpoints",
		func(l *Limits) *int { return &l.WebhookEndpoints }, func(o *LimitOverrides) **int { return &o.WebhookEndpoints }},
}

// Get returns f's value in l.
func (f LimitField) Get(l Limits) int { return *f.limit(&l) }

// Set sets f's value in l.
func (f LimitField) Set(l *Limits, v int) { *f.limit(l) = v }

func limitField(name string) (LimitField, bool) {
	for _, f := range LimitFields {
		if f.Name == name {
			return f, true
		}
	}
	return LimitField{}, false
}

// OrDefault returns l with every field that is not set (0 or less) taken
// from DefaultLimits.
func (l Limits) OrDefault() Limits {
	d := DefaultLimits()
	for _, f := range LimitFields {
		if f.Get(l) <= 0 {
			f.Set(&l, f.Get(d))
		}
	}
	return l
}

// Validate reports every ceiling of l outside its range in one
// fault.InvalidRequest, fields named "limits.<name>".
func (l Limits) Validate() error {
	var fields []fault.FieldError
	for _, f := range LimitFields {
		if v := f.Get(l); v < f.Min || v > f.Max {
			fields = append(fields, fault.FieldError{Field: "limits." + f.Name, Message: f.rangeMessage()})
		}
	}
	return fieldsError(fields, "limits have invalid fields")
}

func (f LimitField) rangeMessage() string {
	return "must be a whole number from " + strconv.Itoa(f.Min) + " to " + strconv.Itoa(f.Max)
}

// Apply returns the deployment defaults d with o's overrides in place.
func (o LimitOverrides) Apply(d Limits) Limits {
	for _, f := range LimitFields {
		if v := *f.override(&o); v != nil {
			f.Set(&d, *v)
		}
	}
	return d
}

// Patched returns o changed by p. It refuses (fault.InvalidRequest naming
// "limits.<name>") an unknown name or a value outside its ceiling's range.
func (o LimitOverrides) Patched(p LimitsPatch) (LimitOverrides, error) {
	names := make([]string, 0, len(p))
	for name := range p {
		names = append(names, name)
	}
	sort.Strings(names)
	var fields []fault.FieldError
	for _, name := range names {
		f, ok := limitField(name)
		if !ok {
			fields = append(fields, fault.FieldError{Field: "limits", Message: "unknown property"})
			continue
		}
		v := p[name]
		if v != nil && (*v < f.Min || *v > f.Max) {
			fields = append(fields, fault.FieldError{Field: "limits." + name, Message: f.rangeMessage()})
			continue
		}
		if v != nil {
			n := *v
			v = &n
		}
		*f.override(&o) = v
	}
	if err := fieldsError(fields, "limits have invalid fields"); err != nil {
		return LimitOverrides{}, err
	}
	return o, nil
}

// fieldsError is one fault.InvalidRequest for fields, or nil for none. Its
// message is the field's when there is one, else many.
func fieldsError(fields []fault.FieldError, many string) error {
	if len(fields) == 0 {
		return nil
	}
	msg := fields[0].Field + ": " + fields[0].Message
	if len(fields) > 1 {
		msg = many
	}
	return &fault.Error{Code: fault.InvalidRequest, Message: msg, Fields: fields}
}

// Within reports, in one fault.InvalidRequest naming each policy field,
// where p exceeds the ceilings l: a larger value, or 0 (unlimited) sessions
// per user. The message names the ceiling and its value.
func (p Policy) Within(l Limits) error {
	var fields []fault.FieldError
	above := func(field string, v, ceiling int) {
		if v > ceiling {
			fields = append(fields, fault.FieldError{Field: field, Message: atMost(ceiling)})
		}
	}
	above("idle_timeout", p.IdleTimeout, l.IdleTimeout)
	above("absolute_timeout", p.AbsoluteTimeout, l.AbsoluteTimeout)
	for _, lt := range []struct {
		prefix string
		l      Lifetime
	}{{"remember_me.", p.RememberMe}, {"impersonation.", p.Impersonation}} {
		if !lt.l.IsZero() {
			above(lt.prefix+"idle_timeout", lt.l.IdleTimeout, l.IdleTimeout)
			above(lt.prefix+"absolute_timeout", lt.l.AbsoluteTimeout, l.AbsoluteTimeout)
		}
	}
	if p.MaxSessionsPerUser == 0 {
		fields = append(fields, fault.FieldError{Field: "max_sessions_per_user",
			Message: atMost(l.MaxSessionsPerUser) + "; 0 (unlimited) is above it"})
	} else {
		above("max_sessions_per_user", p.MaxSessionsPerUser, l.MaxSessionsPerUser)
	}
	above("max_data_bytes", p.MaxDataBytes, l.MaxDataBytes)
	return fieldsError(fields, "policy exceeds the operator's ceilings")
}

func atMost(ceiling int) string {
	return "must be at most " + strconv.Itoa(ceiling) + " (the operator's ceiling)"
}

// Clamp returns p lowered to fit the ceilings l: each bounded value is at
// most its ceiling, 0 (unlimited) sessions per user becomes the ceiling,
// and the idle timeout stays within the absolute one. It is the effective
// policy of a tenant whose operator lowered a ceiling below its policy.
func (p Policy) Clamp(l Limits) Policy {
	p.AbsoluteTimeout = min(p.AbsoluteTimeout, l.AbsoluteTimeout)
	p.IdleTimeout = min(p.IdleTimeout, l.IdleTimeout, p.AbsoluteTimeout)
	p.RememberMe, p.Impersonation = p.RememberMe.Clamp(l), p.Impersonation.Clamp(l)
	if p.MaxSessionsPerUser == 0 || p.MaxSessionsPerUser > l.MaxSessionsPerUser {
		p.MaxSessionsPerUser = l.MaxSessionsPerUser
	}
	p.MaxDataBytes = min(p.MaxDataBytes, l.MaxDataBytes)
	return p
}

// Clamp returns lt lowered to fit the ceilings l (zero stays zero).
func (lt Lifetime) Clamp(l Limits) Lifetime {
	if lt.IsZero() {
		return lt
	}
	lt.AbsoluteTimeout = min(lt.AbsoluteTimeout, l.AbsoluteTimeout)
	lt.IdleTimeout = min(lt.IdleTimeout, l.IdleTimeout, lt.AbsoluteTimeout)
	return lt
}

// unbounded is the limits of the system tenant (the admin UI's sessions),
// which the operator's ceilings do not apply to: every ceiling at its
// largest.
func unbounded() Limits {
	var l Limits
	for _, f := range LimitFields {
		f.Set(&l, f.Max)
	}
	return l
}
