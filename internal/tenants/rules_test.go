package tenants_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/fault"
	"github.com/sessiond/sessiond/internal/passwords"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/tenants"
)

// MustFault returns err as a *fault.Error with code want, or fails the test.
func MustFault(tb testing.TB, err error, want fault.Code) *fault.Error {
	tb.Helper()
	var fe *fault.Error
	if !errors.As(err, &fe) {
		tb.Fatalf("error = %v, want a *fault.Error with code %s", err, want)
	}
	if fe.Code != want {
		tb.Fatalf("error code = %s (%v), want %s", fe.Code, err, want)
	}
	return fe
}

// fieldNames lists the fields an error names, in order.
func fieldNames(fe *fault.Error) []string {
	var out []string
	for _, f := range fe.Fields {
		out = append(out, f.Field)
	}
	return out
}

// MustInvalidFields fails the test unless err is an invalid_request naming
// exactly the fields want, in order, and returns it.
func MustInvalidFields(tb testing.TB, err error, want ...string) *fault.Error {
	tb.Helper()
	fe := MustFault(tb, err, fault.InvalidRequest)
	if got := fieldNames(fe); !slices.Equal(got, want) {
		tb.Fatalf("invalid fields = %q, want %q (%v)", got, want, err)
	}
	return fe
}

func TestPolicyValidate(t *testing.T) {
	const maxT = tenants.MaxTimeoutSeconds
	tests := []struct {
		name   string
		change func(p *tenants.Policy)
		fields []string // invalid fields, in order; none means valid
	}{
		{"the default policy is valid", func(p *tenants.Policy) {}, nil},
		{"an idle timeout of one second is valid", func(p *tenants.Policy) { p.IdleTimeout = 1 }, nil},
		{"an idle timeout of zero is invalid", func(p *tenants.Policy) { p.IdleTimeout = 0 }, []string{"idle_timeout"}},
		{"a negative idle timeout is invalid", func(p *tenants.Policy) { p.IdleTimeout = -1 }, []string{"idle_timeout"}},
		{"an idle timeout over 400 days is reported once, not also as exceeding the absolute timeout", func(p *tenants.Policy) { p.IdleTimeout = maxT + 1 }, []string{"idle_timeout"}},
		{"an absolute timeout of zero is invalid", func(p *tenants.Policy) { p.AbsoluteTimeout = 0 }, []string{"absolute_timeout"}},
		{"an absolute timeout over 400 days is invalid", func(p *tenants.Policy) { p.AbsoluteTimeout = maxT + 1 }, []string{"absolute_timeout"}},
		{"both timeouts at 400 days are valid", func(p *tenants.Policy) { p.IdleTimeout, p.AbsoluteTimeout = maxT, maxT }, nil},
		{"an idle timeout equal to the absolute timeout is valid", func(p *tenants.Policy) { p.IdleTimeout, p.AbsoluteTimeout = 600, 600 }, nil},
		{"an idle timeout longer than the absolute timeout is invalid", func(p *tenants.Policy) { p.IdleTimeout, p.AbsoluteTimeout = 601, 600 }, []string{"idle_timeout"}},
		{"zero sessions per user (unlimited) is valid", func(p *tenants.Policy) { p.MaxSessionsPerUser = 0 }, nil},
		{"10000 sessions per user is valid", func(p *tenants.Policy) { p.MaxSessionsPerUser = tenants.MaxSessionsPerUserCap }, nil},
		{"10001 sessions per user is invalid", func(p *tenants.Policy) { p.MaxSessionsPerUser = tenants.MaxSessionsPerUserCap + 1 }, []string{"max_sessions_per_user"}},
		{"a negative session cap is invalid", func(p *tenants.Policy) { p.MaxSessionsPerUser = -1 }, []string{"max_sessions_per_user"}},
		{"on_limit reject is valid", func(p *tenants.Policy) { p.OnLimit = tenants.Reject }, nil},
		{"an empty on_limit is invalid", func(p *tenants.Policy) { p.OnLimit = "" }, []string{"on_limit"}},
		{"on_limit is case-sensitive", func(p *tenants.Policy) { p.OnLimit = "EVICT_OLDEST" }, []string{"on_limit"}},
		{"user agent binding report and IP binding enforce are valid", func(p *tenants.Policy) {
			p.Binding = tenants.Binding{UserAgent: tenants.BindingReport, IP: tenants.BindingEnforce}
		}, nil},
		{"an unknown user agent binding is invalid", func(p *tenants.Policy) { p.Binding.UserAgent = "strict" }, []string{"binding.user_agent"}},
		{"an empty IP binding is invalid", func(p *tenants.Policy) { p.Binding.IP = "" }, []string{"binding.ip"}},
		{"one byte of data is valid", func(p *tenants.Policy) { p.MaxDataBytes = 1 }, nil},
		{"1 MiB of data is valid", func(p *tenants.Policy) { p.MaxDataBytes = tenants.MaxDataBytesCap }, nil},
		{"zero bytes of data is invalid", func(p *tenants.Policy) { p.MaxDataBytes = 0 }, []string{"max_data_bytes"}},
		{"more than 1 MiB of data is invalid", func(p *tenants.Policy) { p.MaxDataBytes = tenants.MaxDataBytesCap + 1 }, []string{"max_data_bytes"}},
		{"every bad field is named, in order", func(p *tenants.Policy) {
			*p = tenants.Policy{IdleTimeout: -1, AbsoluteTimeout: maxT + 1, MaxSessionsPerUser: -1,
				OnLimit: "drop", Binding: tenants.Binding{UserAgent: "x", IP: "y"}, MaxDataBytes: 0}
		}, []string{"idle_timeout", "absolute_timeout", "max_sessions_per_user", "on_limit", "binding.user_agent", "binding.ip", "max_data_bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tenants.DefaultPolicy()
			tt.change(&p)
			err := p.Validate()
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			fe := MustInvalidFields(t, err, tt.fields...)
			for _, f := range fe.Fields {
				if f.Message == "" {
					t.Errorf("field %s has no message", f.Field)
				}
			}
			wantMsg := "policy has invalid fields"
			if len(fe.Fields) == 1 {
				wantMsg = fe.Fields[0].Field + ": " + fe.Fields[0].Message
			}
			if fe.Message != wantMsg {
				t.Errorf("message = %q, want %q", fe.Message, wantMsg)
			}
		})
	}
}

func TestIdleLongerThanAbsoluteSaysSo(t *testing.T) {
	p := tenants.DefaultPolicy()
	p.IdleTimeout, p.AbsoluteTimeout = 7200, 3600
	fe := MustInvalidFields(t, p.Validate(), "idle_timeout")
	if want := "must not exceed absolute_timeout"; fe.Fields[0].Message != want {
		t.Fatalf("message = %q, want %q", fe.Fields[0].Message, want)
	}
}

func TestDefaultPolicy(t *testing.T) {
	p := tenants.DefaultPolicy()
	want := tenants.Policy{
		IdleTimeout: 1800, AbsoluteTimeout: 28800, MaxSessionsPerUser: 100,
		OnLimit: tenants.EvictOldest, Rolling: true,
		Binding:      tenants.Binding{UserAgent: tenants.BindingOff, IP: tenants.BindingOff},
		MaxDataBytes: 16384, MinAAL: 1, Impersonation: tenants.Lifetime{IdleTimeout: 900, AbsoluteTimeout: 3600},
	}
	t.Run("the defaults are 30 min idle, 8 h absolute, 100 sessions evicting the oldest, rolling, unbound, 16 KiB, AAL 1", func(t *testing.T) {
		if p != want {
			t.Fatalf("DefaultPolicy() = %+v, want %+v", p, want)
		}
		if tenants.DefaultMaxSessionsPerUser != 100 {
			t.Fatalf("DefaultMaxSessionsPerUser = %d, want 100", tenants.DefaultMaxSessionsPerUser)
		}
	})
	t.Run("the timeouts read as durations", func(t *testing.T) {
		if p.Idle() != 30*time.Minute || p.Absolute() != 8*time.Hour {
			t.Fatalf("Idle, Absolute = %v, %v, want 30m, 8h", p.Idle(), p.Absolute())
		}
	})
	t.Run("each call returns a fresh copy", func(t *testing.T) {
		q := tenants.DefaultPolicy()
		q.Binding.IP = tenants.BindingEnforce
		if tenants.DefaultPolicy().Binding.IP != tenants.BindingOff {
			t.Fatal("changing one default policy changed the next")
		}
	})
}

func TestSystemPolicy(t *testing.T) {
	t.Run("admin sessions use the given timeouts, 20 per admin evicting the oldest, the user agent reported, 4 KiB", func(t *testing.T) {
		p, err := tenants.SystemPolicy(15*time.Minute, 12*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		want := tenants.Policy{
			IdleTimeout: 900, AbsoluteTimeout: 43200, MaxSessionsPerUser: 20,
			OnLimit: tenants.EvictOldest, Rolling: true,
			Binding:      tenants.Binding{UserAgent: tenants.BindingReport, IP: tenants.BindingOff},
			MaxDataBytes: 4096, MinAAL: 1, Impersonation: tenants.Lifetime{IdleTimeout: 900, AbsoluteTimeout: 3600},
		}
		if p != want {
			t.Fatalf("SystemPolicy = %+v, want %+v", p, want)
		}
	})
	bad := []struct {
		name           string
		idle, absolute time.Duration
		fields         []string
	}{
		{"an idle timeout longer than the absolute one is refused", 2 * time.Hour, time.Hour, []string{"idle_timeout"}},
		{"a sub-second idle timeout is refused", 500 * time.Millisecond, time.Hour, []string{"idle_timeout"}},
		{"an absolute timeout over 400 days is refused", time.Hour, 401 * 24 * time.Hour, []string{"absolute_timeout"}},
	}
	for _, tt := range bad {
		t.Run(tt.name+" naming the settings", func(t *testing.T) {
			p, err := tenants.SystemPolicy(tt.idle, tt.absolute)
			MustInvalidFields(t, err, tt.fields...)
			if !strings.Contains(err.Error(), "SESSIOND_ADMIN_IDLE_TIMEOUT") {
				t.Errorf("error %q does not name the settings", err)
			}
			if p != (tenants.Policy{}) {
				t.Errorf("policy = %+v, want the zero policy on error", p)
			}
		})
	}
}

// labelCases are the label rules, shared by tenant names and API key names.
var labelCases = []struct {
	name    string
	label   string
	message string // "" means valid
}{
	{"a plain name is valid", "Acme", ""},
	{"surrounding spaces are allowed", " Acme ", ""},
	{"100 multi-byte characters are valid", strings.Repeat("é", 100), ""},
	{"an empty name is refused", "", "must not be empty"},
	{"a name of spaces only is refused", "   \t ", "must not be empty"},
	{"101 characters are refused", strings.Repeat("a", 101), "must be at most 100 characters"},
	{"invalid UTF-8 is refused", "Acme\xff", "must be valid UTF-8"},
	{"a NUL byte is refused", "Ac\x00me", "must not contain control characters"},
	{"a lone NUL is refused", "\x00", "must not contain control characters"},
	{"a newline is refused", "Acme\nInc", "must not contain control characters"},
	{"a tab inside is refused", "Acme\tInc", "must not contain control characters"},
	{"DEL is refused", "Acme\x7f", "must not contain control characters"},
	{"a C1 control character is refused", "Acme\u0085", "must not contain control characters"},
}

func TestValidateName(t *testing.T) {
	for _, tt := range labelCases {
		t.Run(tt.name, func(t *testing.T) {
			err := tenants.ValidateName(tt.label)
			if tt.message == "" {
				if err != nil {
					t.Fatalf("ValidateName(%q) = %v, want nil", tt.label, err)
				}
				return
			}
			fe := MustInvalidFields(t, err, "name")
			if fe.Fields[0].Message != tt.message {
				t.Fatalf("message = %q, want %q", fe.Fields[0].Message, tt.message)
			}
		})
	}
}

func TestValidateEmail(t *testing.T) {
	long := strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".test" // 255 bytes
	tests := []struct {
		name  string
		email string
		ok    bool
	}{
		{"a plain address is valid", "admin@example.com", true},
		{"upper case is kept and valid", "Admin@Example.COM", true},
		{"an address of 254 bytes is valid", long[1:], true},
		{"an address of 255 bytes is refused", long, false},
		{"an empty address is refused", "", false},
		{"a bare word is refused", "admin", false},
		{"a missing domain is refused", "admin@", false},
		{"a missing local part is refused", "@example.com", false},
		{"two @ are refused", "a@b@example.com", false},
		{"a display name is refused", "Admin <admin@example.com>", false},
		{"angle brackets are refused", "<admin@example.com>", false},
		{"a trailing space is refused", "admin@example.com ", false},
		{"a quoted local part that does not round-trip is refused", `"a b"@example.com`, false},
		{"invalid UTF-8 is refused", "adm\xffin@example.com", false},
		{"a NUL byte is refused", "ad\x00min@example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tenants.ValidateEmail(tt.email)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateEmail(%q) = %v, want nil", tt.email, err)
				}
				return
			}
			MustInvalidFields(t, err, "email")
		})
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name     string
		password string
		message  string // "" means valid
	}{
		{"12 characters are enough", "vKq8-Lm2p-Zr", ""},
		{"11 characters are too few", "vKq8-Lm2p-Z", "must be at least 12 characters"},
		{"characters are counted, not bytes: 12 are enough", "éüñøçßåëïœæ7", ""},
		{"characters are counted, not bytes: 11 é (22 bytes) are too few", strings.Repeat("é", 11), "must be at least 12 characters"},
		{"1024 bytes are allowed", strings.Repeat("vKq8-Lm2p-Zr7w", 74)[:1023] + "!", ""},
		{"1025 bytes are refused", strings.Repeat("p", 1025), "must be valid UTF-8 of at most 1024 bytes"},
		{"513 é (1026 bytes) are refused", strings.Repeat("é", 513), "must be valid UTF-8 of at most 1024 bytes"},
		{"invalid UTF-8 is refused", "abcdefghijkl\xff", "must be valid UTF-8 of at most 1024 bytes"},
		{"an empty password is refused", "", "must be at least 12 characters"},
		{"one character repeated is refused", "aaaaaaaaaaaa", passwords.WeakRepeated},
		{"a short pattern repeated is refused", "abcabcabcabc", passwords.WeakRepeated},
		{"a sequence is refused", "123456789012", passwords.WeakSequence},
		{"a common password with digits added is refused", "password1234", passwords.WeakCommon},
		{"the admin's email is refused, whatever its case", "Ada@Acme.example", passwords.WeakEmail},
		{"the email's local part is refused", "ada!!!!!!!!!!!", passwords.WeakEmail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tenants.ValidatePassword("new_password", tt.password, "ada@acme.example")
			if tt.message == "" {
				if err != nil {
					t.Fatalf("ValidatePassword = %v, want nil", err)
				}
				return
			}
			fe := MustInvalidFields(t, err, "new_password")
			if fe.Fields[0].Message != tt.message {
				t.Fatalf("message = %q, want %q", fe.Fields[0].Message, tt.message)
			}
			if tt.password != "" && strings.Contains(err.Error(), tt.password) {
				t.Fatal("the error repeats the password")
			}
		})
	}
}

func TestNewAPIKey(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	both := []tenants.Scope{tenants.ScopeSessions, tenants.ScopeAdmin}

	t.Run("a new key names its id in its secret and stores only the secret's hash", func(t *testing.T) {
		k, secret, err := tenants.NewAPIKey("tn_x", "ci", both, now)
		if err != nil {
			t.Fatal(err)
		}
		idPart, ok := strings.CutPrefix(k.ID, tenants.APIKeyIDPrefix)
		if !ok || len(idPart) != 16 {
			t.Fatalf("id = %q, want ak_ and 16 characters", k.ID)
		}
		random, ok := strings.CutPrefix(secret, "sk_"+idPart+"_")
		if !ok {
			t.Fatalf("secret = %q, want it to start sk_%s_", secret, idPart)
		}
		if b, err := secrets.Decode(random); err != nil || len(b) != 32 {
			t.Fatalf("secret's random part decodes to %d bytes (%v), want 32", len(b), err)
		}
		if k.Prefix != secret[:11] {
			t.Errorf("prefix = %q, want the first 11 characters of the secret %q", k.Prefix, secret[:11])
		}
		if string(k.SecretHash) != string(secrets.Hash(secret)) {
			t.Error("SecretHash is not the SHA-256 of the secret")
		}
		if k.TenantID != "tn_x" || k.Name != "ci" || !k.CreatedAt.Equal(now) || k.RevokedAt != nil {
			t.Errorf("key = %+v, want tenant tn_x, name ci, created %v, not revoked", k, now)
		}
		if !slices.Equal(k.Scopes, both) {
			t.Errorf("scopes = %v, want %v", k.Scopes, both)
		}
	})
	t.Run("two keys never share an id or a secret", func(t *testing.T) {
		a, sa, _ := tenants.NewAPIKey("tn_x", "a", both, now)
		b, sb, _ := tenants.NewAPIKey("tn_x", "a", both, now)
		if a.ID == b.ID || sa == sb {
			t.Fatalf("two keys collide: %s %s", a.ID, b.ID)
		}
	})

	scopes := []struct {
		name  string
		in    []tenants.Scope
		want  []tenants.Scope
		field string // invalid field, "" when valid
	}{
		{"sessions alone is kept", []tenants.Scope{"sessions"}, []tenants.Scope{"sessions"}, ""},
		{"admin alone is kept", []tenants.Scope{"admin"}, []tenants.Scope{"admin"}, ""},
		{"repeated scopes are kept once, sessions before admin", []tenants.Scope{"admin", "sessions", "admin", "sessions"}, both, ""},
		{"no scopes are refused", nil, nil, "scopes"},
		{"an empty scope list is refused", []tenants.Scope{}, nil, "scopes"},
		{"an unknown scope is refused", []tenants.Scope{"sessions", "root"}, nil, "scopes"},
		{"scopes are case-sensitive", []tenants.Scope{"Admin"}, nil, "scopes"},
	}
	for _, tt := range scopes {
		t.Run(tt.name, func(t *testing.T) {
			k, secret, err := tenants.NewAPIKey("tn_x", "ci", tt.in, now)
			if tt.field != "" {
				MustInvalidFields(t, err, tt.field)
				if secret != "" || k.ID != "" {
					t.Fatalf("a refused key came back: %+v %q", k, secret)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(k.Scopes, tt.want) {
				t.Fatalf("scopes = %v, want %v", k.Scopes, tt.want)
			}
		})
	}

	for _, tt := range labelCases {
		t.Run("for the key's name, "+tt.name, func(t *testing.T) {
			_, _, err := tenants.NewAPIKey("tn_x", tt.label, both, now)
			if tt.message == "" {
				if err != nil {
					t.Fatalf("NewAPIKey(name %q) = %v, want nil", tt.label, err)
				}
				return
			}
			fe := MustInvalidFields(t, err, "name")
			if fe.Fields[0].Message != tt.message {
				t.Fatalf("message = %q, want %q", fe.Fields[0].Message, tt.message)
			}
		})
	}
}

func TestScopeHas(t *testing.T) {
	tests := []struct {
		name   string
		scopes []tenants.Scope
		asked  tenants.Scope
		want   bool
	}{
		{"a sessions key may use sessions", []tenants.Scope{"sessions"}, tenants.ScopeSessions, true},
		{"a sessions key may not administer", []tenants.Scope{"sessions"}, tenants.ScopeAdmin, false},
		{"an admin key may not use sessions", []tenants.Scope{"admin"}, tenants.ScopeSessions, false},
		{"a key with both may administer", []tenants.Scope{"sessions", "admin"}, tenants.ScopeAdmin, true},
		{"a key without scopes may do nothing", nil, tenants.ScopeSessions, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (tenants.APIKey{Scopes: tt.scopes}).Has(tt.asked); got != tt.want {
				t.Errorf("APIKey.Has(%s) = %v, want %v", tt.asked, got, tt.want)
			}
			if got := (tenants.Principal{Scopes: tt.scopes}).Has(tt.asked); got != tt.want {
				t.Errorf("Principal.Has(%s) = %v, want %v", tt.asked, got, tt.want)
			}
		})
	}
}

func TestKeyAt(t *testing.T) {
	created := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	retires := created.Add(time.Hour)
	retiredEarly := created.Add(10 * time.Minute)
	tests := []struct {
		name        string
		key         tenants.Key
		now         time.Time
		state       tenants.KeyState
		retiredAt   *time.Time
		noRetiresAt bool
	}{
		{"an active key stays active", tenants.Key{State: tenants.KeyActive}, retires.Add(time.Hour), tenants.KeyActive, nil, true},
		{"a retiring key is retiring before its grace ends", tenants.Key{State: tenants.KeyRetiring, RetiresAt: &retires}, retires.Add(-time.Nanosecond), tenants.KeyRetiring, nil, false},
		{"a retiring key is retired at the moment its grace ends", tenants.Key{State: tenants.KeyRetiring, RetiresAt: &retires}, retires, tenants.KeyRetired, &retires, false},
		{"a retiring key retired long ago says it retired when its grace ended", tenants.Key{State: tenants.KeyRetiring, RetiresAt: &retires}, retires.Add(48 * time.Hour), tenants.KeyRetired, &retires, false},
		{"a retiring key without an end stays retiring", tenants.Key{State: tenants.KeyRetiring}, retires.Add(time.Hour), tenants.KeyRetiring, nil, true},
		{"a retired key keeps its retirement time", tenants.Key{State: tenants.KeyRetired, RetiresAt: &retires, RetiredAt: &retiredEarly}, retires.Add(time.Hour), tenants.KeyRetired, &retiredEarly, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := tt.key
			got := tt.key.At(tt.now)
			if got.State != tt.state {
				t.Errorf("state = %s, want %s", got.State, tt.state)
			}
			switch {
			case tt.retiredAt == nil && got.RetiredAt != nil:
				t.Errorf("retired_at = %v, want none", *got.RetiredAt)
			case tt.retiredAt != nil && (got.RetiredAt == nil || !got.RetiredAt.Equal(*tt.retiredAt)):
				t.Errorf("retired_at = %v, want %v", got.RetiredAt, *tt.retiredAt)
			}
			if (got.RetiresAt == nil) != tt.noRetiresAt {
				t.Errorf("retires_at = %v", got.RetiresAt)
			}
			if tt.key.State != orig.State || tt.key.RetiredAt != orig.RetiredAt {
				t.Error("At changed the key it was called on")
			}
		})
	}
}

func TestPageNormalize(t *testing.T) {
	tests := []struct {
		name  string
		limit int
		want  int
	}{
		{"no limit takes the default of 50", 0, 50},
		{"a negative limit takes the default", -5, 50},
		{"a limit of one is kept", 1, 1},
		{"the maximum of 200 is kept", 200, 200},
		{"a limit over the maximum is cut to 200", 201, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tenants.Page{Cursor: "c1", Limit: tt.limit}.Normalize()
			if got != (tenants.Page{Cursor: "c1", Limit: tt.want}) {
				t.Fatalf("Normalize() = %+v, want cursor c1 and limit %d", got, tt.want)
			}
		})
	}
}

func TestSnapshotKeys(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	retires := now.Add(time.Hour)
	retired := now.Add(-time.Hour)
	snap := &tenants.Snapshot{Keys: []tenants.Key{
		{ID: "k_new", State: tenants.KeyActive, Secret: []byte("new")},
		{ID: "k_mid", State: tenants.KeyRetiring, RetiresAt: &retires, Secret: []byte("mid")},
		{ID: "k_old", State: tenants.KeyRetired, RetiredAt: &retired},
	}}

	t.Run("the active key is the one that signs", func(t *testing.T) {
		k, ok := snap.ActiveKey()
		if !ok || k.ID != "k_new" || string(k.Secret) != "new" {
			t.Fatalf("ActiveKey() = %+v, %v, want k_new", k, ok)
		}
	})
	t.Run("a keyring without an active key has none", func(t *testing.T) {
		s := &tenants.Snapshot{Keys: snap.Keys[1:]}
		if k, ok := s.ActiveKey(); ok {
			t.Fatalf("ActiveKey() = %+v, want none", k)
		}
	})
	lookups := []struct {
		name  string
		kid   string
		at    time.Time
		found bool
		state tenants.KeyState
	}{
		{"a retiring key is found retiring during its grace", "k_mid", now, true, tenants.KeyRetiring},
		{"a retiring key is found retired once its grace ends", "k_mid", retires, true, tenants.KeyRetired},
		{"a retired key is found retired", "k_old", now, true, tenants.KeyRetired},
		{"the active key is found active", "k_new", retires, true, tenants.KeyActive},
		{"an unknown kid is not found", "k_other", now, false, ""},
	}
	for _, tt := range lookups {
		t.Run(tt.name, func(t *testing.T) {
			k, ok := snap.Key(tt.kid, tt.at)
			if ok != tt.found || k.State != tt.state || (ok && k.ID != tt.kid) {
				t.Fatalf("Key(%s) = %s %s, %v; want %s, %v", tt.kid, k.ID, k.State, ok, tt.state, tt.found)
			}
		})
	}
	t.Run("looking a key up leaves the snapshot as it was", func(t *testing.T) {
		snap.Key("k_mid", retires.Add(time.Hour))
		if snap.Keys[1].State != tenants.KeyRetiring || snap.Keys[1].RetiredAt != nil {
			t.Fatalf("snapshot key changed: %+v", snap.Keys[1])
		}
	})
}
