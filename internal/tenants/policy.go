package tenants

import (
	"time"

	"github.com/sessiond/sessiond/internal/fault"
)

// OnLimit says what creating a session does when a user already has
// MaxSessionsPerUser live sessions.
type OnLimit string

const (
	// EvictOldest ends the user's oldest sessions to make room.
	EvictOldest OnLimit = "evict_oldest"
	// Reject refuses the new session with session_limit_reached.
	Reject OnLimit = "reject"
)

// BindingMode says what verify does when a session is presented from another
// user agent or IP prefix than the one it was created from.
type BindingMode string

const (
	BindingOff     BindingMode = "off"
	BindingReport  BindingMode = "report"
	BindingEnforce BindingMode = "enforce"
)

// Binding is the per-attribute binding policy.
type Binding struct {
	UserAgent BindingMode `json:"user_agent"`
	IP        BindingMode `json:"ip"`
}

// Policy is a tenant's session policy. Durations are whole seconds, as in the
// API.
type Policy struct {
	IdleTimeout        int     `json:"idle_timeout"`
	AbsoluteTimeout    int     `json:"absolute_timeout"`
	MaxSessionsPerUser int     `json:"max_sessions_per_user"`
	OnLimit            OnLimit `json:"on_limit"`
	Rolling            bool    `json:"rolling"`
	Binding            Binding `json:"binding"`
	MaxDataBytes       int     `json:"max_data_bytes"`
	// MinAAL is the assurance level every verify requires (1 or 2): a
	// session below it is step_up_required. 0 (a policy stored before it
	// existed, or left out of a PUT) reads as 1 (Filled).
	MinAAL int `json:"min_aal"`
	// RememberMe, when set, is the lifetime of sessions created with
	// remember: true (zero: the tenant offers none).
	RememberMe Lifetime `json:"remember_me,omitzero"`
	// Impersonation is the lifetime of sessions an actor (support staff,
	// an admin, a service) holds as a user. Zero (a policy stored before it
	// existed, or left out of a PUT): DefaultImpersonation (Filled).
	Impersonation Lifetime `json:"impersonation,omitzero"`
}

// Lifetime is a session profile's idle and absolute timeouts, in seconds.
type Lifetime struct {
	IdleTimeout     int `json:"idle_timeout"`
	AbsoluteTimeout int `json:"absolute_timeout"`
}

// DefaultImpersonation is the default lifetime of impersonated sessions:
// 15 minutes idle, 1 hour at most.
func DefaultImpersonation() Lifetime { return Lifetime{IdleTimeout: 15 * 60, AbsoluteTimeout: 60 * 60} }

// IsZero reports whether l is unset.
func (l Lifetime) IsZero() bool { return l == Lifetime{} }

// Filled returns p with the fields it may lack (stored before they
// existed, or left out of a PUT) at their defaults.
func (p Policy) Filled() Policy {
	if p.MinAAL == 0 {
		p.MinAAL = 1
	}
	if p.Impersonation.IsZero() {
		p.Impersonation = DefaultImpersonation()
	}
	return p
}

// DefaultMaxSessionsPerUser is a new tenant's device cap. It is finite so
// that one user's sessions (and their listing) stay bounded: with the default
// 16 KiB of data, one user can hold at most 100 × ~17 KiB ≈ 1.7 MB of Redis.
// 0 (unlimited) is still allowed, explicitly.
const DefaultMaxSessionsPerUser = 100

// Bounds on policy values.
const (
	MaxTimeoutSeconds     = 400 * 24 * 60 * 60 // 400 days
	MaxSessionsPerUserCap = 10000
	MaxDataBytesCap       = 1 << 20 // 1 MiB
)

// DefaultPolicy is the policy of a new tenant: idle 30 min, absolute 8 h,
// at most DefaultMaxSessionsPerUser sessions per user (evicting the
// oldest), rolling, no binding, 16 KiB of data.
func DefaultPolicy() Policy {
	return Policy{
		IdleTimeout:        30 * 60,
		AbsoluteTimeout:    8 * 60 * 60,
		MaxSessionsPerUser: DefaultMaxSessionsPerUser,
		OnLimit:            EvictOldest,
		Rolling:            true,
		Binding:            Binding{UserAgent: BindingOff, IP: BindingOff},
		MaxDataBytes:       16 << 10,
		MinAAL:             1,
		Impersonation:      DefaultImpersonation(),
	}
}

// Idle returns the idle timeout as a duration.
func (p Policy) Idle() time.Duration { return time.Duration(p.IdleTimeout) * time.Second }

// Absolute returns the absolute timeout as a duration.
func (p Policy) Absolute() time.Duration { return time.Duration(p.AbsoluteTimeout) * time.Second }

// Validate reports every invalid field of p in one fault.InvalidRequest.
func (p Policy) Validate() error {
	var fields []fault.FieldError
	add := func(field, msg string) { fields = append(fields, fault.FieldError{Field: field, Message: msg}) }
	checkTimeout := func(field string, v int) bool {
		if v < 1 || v > MaxTimeoutSeconds {
			add(field, "must be a whole number of seconds from 1 to 34560000 (400 days)")
			return false
		}
		return true
	}
	lifetime := func(prefix string, idle, abs int) {
		idleOK := checkTimeout(prefix+"idle_timeout", idle)
		absOK := checkTimeout(prefix+"absolute_timeout", abs)
		if idleOK && absOK && idle > abs {
			add(prefix+"idle_timeout", "must not exceed absolute_timeout")
		}
	}
	lifetime("", p.IdleTimeout, p.AbsoluteTimeout)
	if !p.RememberMe.IsZero() {
		lifetime("remember_me.", p.RememberMe.IdleTimeout, p.RememberMe.AbsoluteTimeout)
	}
	if !p.Impersonation.IsZero() {
		lifetime("impersonation.", p.Impersonation.IdleTimeout, p.Impersonation.AbsoluteTimeout)
	}
	if p.MaxSessionsPerUser < 0 || p.MaxSessionsPerUser > MaxSessionsPerUserCap {
		add("max_sessions_per_user", "must be from 0 (unlimited) to 10000")
	}
	if p.OnLimit != EvictOldest && p.OnLimit != Reject {
		add("on_limit", `must be "evict_oldest" or "reject"`)
	}
	for _, b := range []struct {
		field string
		mode  BindingMode
	}{{"binding.user_agent", p.Binding.UserAgent}, {"binding.ip", p.Binding.IP}} {
		if b.mode != BindingOff && b.mode != BindingReport && b.mode != BindingEnforce {
			add(b.field, `must be "off", "report" or "enforce"`)
		}
	}
	if p.MaxDataBytes < 1 || p.MaxDataBytes > MaxDataBytesCap {
		add("max_data_bytes", "must be from 1 to 1048576")
	}
	if p.MinAAL != 0 && p.MinAAL != 1 && p.MinAAL != 2 {
		add("min_aal", "must be 1 or 2")
	}
	if len(fields) == 0 {
		return nil
	}
	msg := fields[0].Field + ": " + fields[0].Message
	if len(fields) > 1 {
		msg = "policy has invalid fields"
	}
	return &fault.Error{Code: fault.InvalidRequest, Message: msg, Fields: fields}
}
