package config_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/tenants"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// strongToken is an operator token Validate accepts (from `sessiond keygen`).
const strongToken = "op_kx3v7qzm2nplw5ahrt4ydj6bcfeuogsi2m7qvx3zkh5wnp4aryt6l"

func TestDefaults(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != config.DefaultAddr || c.DatabaseURL != config.DefaultDatabaseURL || c.RedisURL != config.DefaultRedisURL || c.RedisPrefix != "sd" {
		t.Fatalf("defaults = %+v", c)
	}
	if c.CacheStaleAfter != 2*time.Second {
		t.Fatalf("SESSIOND_CACHE_STALE_AFTER defaults to %s, want 2s", c.CacheStaleAfter)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "sessiond keygen") {
		t.Fatalf("missing secrets must fail validation and say how to fix it: %v", err)
	}
}

func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c, err := config.Load(env(map[string]string{
		"SESSIOND_OPERATOR_TOKEN_FILE": write("tok", strongToken),
		"SESSIOND_MASTER_KEY_FILE":     write("mk", key),
		"DATABASE_URL_FILE":            write("db", "postgres://u:p@db/x"),
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.OperatorToken != strongToken || len(c.MasterKey) != 32 || c.DatabaseURL != "postgres://u:p@db/x" {
		t.Fatalf("from files = %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestBadValuesAreNamed(t *testing.T) {
	for name, c := range map[string]struct {
		env  map[string]string
		want string
	}{
		"a secret both inline and from a file": {map[string]string{"SESSIOND_OPERATOR_TOKEN": "x", "SESSIOND_OPERATOR_TOKEN_FILE": "/nope"}, "both set"},
		"an unreadable secret file":            {map[string]string{"SESSIOND_MASTER_KEY_FILE": "/nonexistent/mk"}, "SESSIOND_MASTER_KEY_FILE"},
		"a master key that is not base64":      {map[string]string{"SESSIOND_MASTER_KEY": "not base64!"}, "SESSIOND_MASTER_KEY"},
		"a proxy list with a non-CIDR":         {map[string]string{"SESSIOND_TRUSTED_PROXIES": "10.0.0.0/8, banana"}, "SESSIOND_TRUSTED_PROXIES"},
		"a duration that does not parse":       {map[string]string{"SESSIOND_SHUTDOWN_TIMEOUT": "soon"}, "SESSIOND_SHUTDOWN_TIMEOUT"},
		"a negative drain delay":               {map[string]string{"SESSIOND_DRAIN_DELAY": "-1s"}, "SESSIOND_DRAIN_DELAY"},
		"an unknown log level":                 {map[string]string{"SESSIOND_LOG_LEVEL": "loud"}, "SESSIOND_LOG_LEVEL"},
		"a tiny body limit":                    {map[string]string{"SESSIOND_MAX_BODY_BYTES": "10"}, "SESSIOND_MAX_BODY_BYTES"},
		"a cluster flag that is not a bool":    {map[string]string{"REDIS_CLUSTER": "maybe"}, "REDIS_CLUSTER"},
		"a staleness bound under a second":     {map[string]string{"SESSIOND_CACHE_STALE_AFTER": "500ms"}, "SESSIOND_CACHE_STALE_AFTER"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load(env(c.env))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %s", err, c.want)
			}
		})
	}
}

func TestTrustedProxiesAcceptAddressesAndCIDRs(t *testing.T) {
	c, err := config.Load(env(map[string]string{"SESSIOND_TRUSTED_PROXIES": "10.1.2.3, 192.168.0.0/16, ::1"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.TrustedProxies) != 3 || c.TrustedProxies[0].String() != "10.1.2.3/32" || c.TrustedProxies[2].String() != "::1/128" {
		t.Fatalf("proxies = %v", c.TrustedProxies)
	}
}

func TestValidateRejectsWeakSecretsAndHalfTLS(t *testing.T) {
	c := config.Config{OperatorToken: "short", MasterKey: make([]byte, 16), TLSCert: "cert.pem"}
	err := c.Validate()
	for _, want := range []string{"SESSIOND_OPERATOR_TOKEN is 5 characters", "decodes to 16 bytes", "SESSIOND_TLS_KEY"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to say %q", err, want)
		}
	}
}

func TestEventRetention(t *testing.T) {
	for v, want := range map[string]time.Duration{"": 2160 * time.Hour, "0": 0, "720h": 720 * time.Hour} {
		c, err := config.Load(env(map[string]string{"SESSIOND_EVENT_RETENTION": v}))
		if err != nil || c.EventRetention != want {
			t.Errorf("SESSIOND_EVENT_RETENTION=%q: %v %v, want %v", v, c.EventRetention, err, want)
		}
	}
	if _, err := config.Load(env(map[string]string{"SESSIOND_EVENT_RETENTION": "-1h"})); err == nil {
		t.Error("a negative retention was accepted")
	}
}

func TestValidateRefusesWeakOperatorTokens(t *testing.T) {
	valid := config.Config{MasterKey: make([]byte, 32)}
	for _, c := range []struct {
		name, token, want string // want "" accepts
	}{
		{"a keygen token", strongToken, ""},
		{"a 32-byte base64url token", "mZ3q8Xk-vR1tYb7Wc2Lp_N9sJd4Hf6Ga0Ue5Ko8Ti3E", ""},
		{"a 64-character hex token (256 bits)", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", ""},
		{"missing", "", "is missing"},
		{"short", "short", "is 5 characters"},
		{"leading whitespace", " " + strongToken, "whitespace"},
		{"a trailing newline", strongToken + "\n", "whitespace"},
		{"one character repeated", strings.Repeat("t", 40), "one character repeated"},
		{"a prefix and one character repeated", "op_" + strings.Repeat("z", 40), "distinct characters"},
		{"a short alphabet", strings.Repeat("abcdefgh", 6), "distinct characters"},
		{"a 32-character hex token (128 bits)", "3f2a9c0b7d1e4f5a6b8c9d0e1f2a3b4c", "bits of entropy"},
		{"mostly one character", strings.Repeat("a", 40) + "0123456789", "bits of entropy"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := valid
			cfg.OperatorToken = c.token
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "sessiond keygen")):
				t.Fatalf("Validate() = %v, want it to say %q and how to fix it", err, c.want)
			}
		})
	}
}

func TestPublicURLBecomesAnOrigin(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"https://sessions.example.com", "https://sessions.example.com", ""},
		{"https://Sessions.Example.com/", "https://sessions.example.com", ""},
		{"https://sessions.example.com:443", "https://sessions.example.com", ""},
		{"http://localhost:8080", "http://localhost:8080", ""},
		{"https://[2001:db8::1]:8443/", "https://[2001:db8::1]:8443", ""},
		{"sessions.example.com", "", "http or https"},
		{"ftp://sessions.example.com", "", "http or https"},
		{"https://", "", "no host"},
		{"https://sessions.example.com/admin", "", "only a scheme, host and port"},
		{"https://sessions.example.com/?x=1", "", "only a scheme, host and port"},
		{"https://user:pw@sessions.example.com", "", "only a scheme, host and port"},
	} {
		t.Run(c.in, func(t *testing.T) {
			cfg, err := config.Load(env(map[string]string{"SESSIOND_PUBLIC_URL": c.in}))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), "SESSIOND_PUBLIC_URL") || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want it to name SESSIOND_PUBLIC_URL and say %q", err, c.err)
				}
				return
			}
			if err != nil || cfg.PublicOrigin != c.want {
				t.Fatalf("PublicOrigin = %q, %v; want %q", cfg.PublicOrigin, err, c.want)
			}
		})
	}
	if cfg, err := config.Load(env(nil)); err != nil || cfg.PublicOrigin != "" {
		t.Fatalf("unset: %q, %v", cfg.PublicOrigin, err)
	}
}

// Load reads exactly the variables Vars lists (the table `sessiond help`
// and the README show), and their defaults are Vars' own.
func TestLoadReadsExactlyTheVariablesInVars(t *testing.T) {
	read := map[string]bool{}
	c, err := config.Load(func(name string) string { read[name] = true; return "" })
	if err != nil {
		t.Fatalf("the defaults do not load: %v", err)
	}
	listed := map[string]bool{}
	for _, v := range config.Vars {
		listed[v.Name] = true
		if !read[v.Name] {
			t.Errorf("Vars lists %s but Load never reads it", v.Name)
		}
	}
	for name := range read {
		if !listed[name] && !listed[strings.TrimSuffix(name, "_FILE")] {
			t.Errorf("Load reads %s, which Vars does not list", name)
		}
	}
	want := config.Config{
		Addr: config.DefaultAddr, DatabaseURL: config.DefaultDatabaseURL, RedisURL: config.DefaultRedisURL,
		RedisPrefix: config.DefaultRedisPrefix, DataDir: config.DefaultDataDir, LogLevel: "info",
		MaxBodyBytes: config.DefaultMaxBodyBytes, ShutdownGrace: 15 * time.Second, DrainDelay: 5 * time.Second, CacheRefresh: 30 * time.Second,
		CacheStaleAfter: 2 * time.Second,
		EventRetention:  2160 * time.Hour, AdminIdle: 15 * time.Minute, AdminAbsolute: 8 * time.Hour,
		GuessLimit: config.DefaultGuessLimit, GuessLimitPerCaller: config.DefaultGuessLimitPerCaller,
		EventSpoolMax: config.DefaultEventSpoolMax, ChangesMaxStreams: config.DefaultChangesMaxStreams,
		Ceilings: tenants.DefaultLimits(),
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

// The SESSIOND_CEILING_* variables set the deployment's default ceilings,
// within each ceiling's range; timeouts are durations of whole seconds.
func TestCeilings(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"SESSIOND_CEILING_MAX_DATA_BYTES": "4096", "SESSIOND_CEILING_IDLE_TIMEOUT": "90s",
		"SESSIOND_CEILING_REQUESTS_PER_SECOND": "7",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := tenants.DefaultLimits()
	want.MaxDataBytes, want.IdleTimeout, want.RequestsPerSecond = 4096, 90, 7
	if c.Ceilings != want {
		t.Fatalf("ceilings = %+v, want %+v", c.Ceilings, want)
	}
	for name, v := range map[string]string{
		"SESSIOND_CEILING_MAX_DATA_BYTES":      "2000000", // above 1 MiB
		"SESSIOND_CEILING_RETIRING_KEYS":       "0",
		"SESSIOND_CEILING_LIVE_SESSIONS":       "many",
		"SESSIOND_CEILING_ABSOLUTE_TIMEOUT":    "1.5s",
		"SESSIOND_CEILING_IDLE_TIMEOUT":        "9601h", // above 400 days
		"SESSIOND_CEILING_REQUESTS_PER_SECOND": "-1",
	} {
		if _, err := config.Load(env(map[string]string{name: v})); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%s: err = %v, want it named", name, v, err)
		}
	}
}
