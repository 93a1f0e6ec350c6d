package tenants_test

import (
	"testing"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/tenants"
)

func TestClampLowersThePolicyToTheCeilings(t *testing.T) {
	l := tenants.DefaultLimits()
	l.IdleTimeout, l.AbsoluteTimeout, l.MaxSessionsPerUser, l.MaxDataBytes = 600, 300, 5, 1024
	p := tenants.DefaultPolicy()
	p.MaxSessionsPerUser = 0
	p.RememberMe = tenants.Lifetime{IdleTimeout: 86400, AbsoluteTimeout: 30 * 86400}
	got := p.Clamp(l)
	if got.AbsoluteTimeout != 300 || got.IdleTimeout != 300 || got.MaxSessionsPerUser != 5 || got.MaxDataBytes != 1024 {
		t.Fatalf("clamped = %+v", got)
	}
	if want := (tenants.Lifetime{IdleTimeout: 300, AbsoluteTimeout: 300}); got.RememberMe != want || got.Impersonation != want {
		t.Fatalf("clamped profiles = %+v %+v, want both %+v", got.RememberMe, got.Impersonation, want)
	}
	if none := tenants.DefaultPolicy().Clamp(l); !none.RememberMe.IsZero() {
		t.Fatalf("clamping made a remember_me profile: %+v", none.RememberMe)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("a clamped policy is invalid: %v", err)
	}
	if err := got.Within(l); err != nil {
		t.Fatalf("a clamped policy exceeds its ceilings: %v", err)
	}
	if d := tenants.DefaultPolicy(); d.Clamp(tenants.DefaultLimits()) != d || d.Within(tenants.DefaultLimits()) != nil {
		t.Fatal("the default policy does not fit the default ceilings")
	}
}

func TestWithinNamesEveryFieldAboveItsCeiling(t *testing.T) {
	l := tenants.Limits{MaxDataBytes: 10, MaxSessionsPerUser: 2, IdleTimeout: 60, AbsoluteTimeout: 120}
	p := tenants.Policy{IdleTimeout: 61, AbsoluteTimeout: 121, MaxSessionsPerUser: 0, MaxDataBytes: 11,
		RememberMe: tenants.Lifetime{IdleTimeout: 60, AbsoluteTimeout: 3600}, Impersonation: tenants.Lifetime{IdleTimeout: 61, AbsoluteTimeout: 60}}
	err := p.Within(l)
	var fe *fault.Error
	if !fault.Is(err, fault.InvalidRequest) {
		t.Fatalf("err = %v", err)
	}
	fe = err.(*fault.Error)
	want := map[string]string{
		"idle_timeout":                 "must be at most 60 (the operator's ceiling)",
		"absolute_timeout":             "must be at most 120 (the operator's ceiling)",
		"max_sessions_per_user":        "must be at most 2 (the operator's ceiling); 0 (unlimited) is above it",
		"max_data_bytes":               "must be at most 10 (the operator's ceiling)",
		"remember_me.absolute_timeout": "must be at most 120 (the operator's ceiling)",
		"impersonation.idle_timeout":   "must be at most 60 (the operator's ceiling)",
	}
	if len(fe.Fields) != len(want) {
		t.Fatalf("fields = %+v", fe.Fields)
	}
	for _, f := range fe.Fields {
		if want[f.Field] != f.Message {
			t.Errorf("%s: %q, want %q", f.Field, f.Message, want[f.Field])
		}
	}
}

func TestLimitOverridesPatchAndApply(t *testing.T) {
	n := func(v int) *int { return &v }
	o, err := tenants.LimitOverrides{}.Patched(tenants.LimitsPatch{"requests_per_second": n(50), "retiring_keys": n(3)})
	if err != nil {
		t.Fatal(err)
	}
	o, err = o.Patched(tenants.LimitsPatch{"retiring_keys": nil})
	if err != nil {
		t.Fatal(err)
	}
	want := tenants.DefaultLimits()
	want.RequestsPerSecond = 50
	if got := o.Apply(tenants.DefaultLimits()); got != want {
		t.Fatalf("applied = %+v, want %+v", got, want)
	}
	for name, p := range map[string]tenants.LimitsPatch{
		"limits.retiring_keys":  {"retiring_keys": n(0)},
		"limits.max_data_bytes": {"max_data_bytes": n(2 << 20)},
		"limits":                {"webhooks": n(1)},
	} {
		_, err := tenants.LimitOverrides{}.Patched(p)
		if fe, ok := err.(*fault.Error); !ok || len(fe.Fields) != 1 || fe.Fields[0].Field != name {
			t.Errorf("%v: err = %v, want a field error on %s", p, err, name)
		}
	}
}
