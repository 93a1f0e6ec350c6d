// Package config reads sessiond's configuration from the environment. Every
// secret may instead be read from a file named by the same variable with a
// _FILE suffix (Docker and Kubernetes secrets).
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/tenants"
	"github.com/sessiond/sessiond/internal/tracing"
)

// Config is the whole configuration of `sessiond serve`.
type Config struct {
	Addr           string         // SESSIOND_ADDR
	DatabaseURL    string         // DATABASE_URL
	RedisURL       string         // REDIS_URL
	RedisCluster   bool           // REDIS_CLUSTER
	RedisCAFile    string         // REDIS_CA_FILE
	RedisPrefix    string         // SESSIOND_REDIS_PREFIX
	OperatorToken  string         // SESSIOND_OPERATOR_TOKEN
	MasterKey      []byte         // SESSIOND_MASTER_KEY (base64 of 32 bytes)
	TLSCert        string         // SESSIOND_TLS_CERT
	TLSKey         string         // SESSIOND_TLS_KEY
	TrustedProxies []netip.Prefix // SESSIOND_TRUSTED_PROXIES
	// PublicOrigin is SESSIOND_PUBLIC_URL as a browser Origin
	// ("https://sessions.example.com", no default port, no path); "" when
	// unset.
	PublicOrigin  string
	DataDir       string        // SESSIOND_DATA_DIR (dev mode)
	LogLevel      string        // SESSIOND_LOG_LEVEL
	MaxBodyBytes  int64         // SESSIOND_MAX_BODY_BYTES
	ShutdownGrace time.Duration // SESSIOND_SHUTDOWN_TIMEOUT
	DrainDelay    time.Duration // SESSIOND_DRAIN_DELAY; 0 skips the drain
	CacheRefresh  time.Duration // SESSIOND_CACHE_REFRESH
	// CacheStaleAfter is SESSIOND_CACHE_STALE_AFTER: how long an instance
	// answers from its tenant cache without confirming it is current.
	CacheStaleAfter time.Duration
	EventRetention  time.Duration // SESSIOND_EVENT_RETENTION; 0 keeps events forever
	AdminIdle       time.Duration // SESSIOND_ADMIN_IDLE_TIMEOUT
	AdminAbsolute   time.Duration // SESSIOND_ADMIN_ABSOLUTE_TIMEOUT
	// GuessLimit and GuessLimitPerCaller: forged session tokens a minute
	// from one end user's device IP, and from one API caller's IP when the
	// app sends no device IP (SESSIOND_GUESS_LIMIT,
	// SESSIOND_GUESS_LIMIT_PER_CALLER).
	GuessLimit, GuessLimitPerCaller int
	// EventSpoolMax bounds the Redis spool of security events kept while
	// PostgreSQL is unavailable; 0 turns the spool off
	// (SESSIOND_EVENT_SPOOL_MAX).
	EventSpoolMax int64
	// Ceilings are the deployment's default operator ceilings of every
	// tenant without its own (SESSIOND_CEILING_*).
	Ceilings tenants.Limits
	// Tracing: the OTEL_* variables ask for OpenTelemetry traces
	// (tracing.Enabled); the SDK reads the rest of them itself.
	Tracing bool
	// Dev is set by `serve --dev`, never by the environment: the admin UI
	// then works over plain HTTP (no Secure cookie, with a banner saying so).
	Dev bool
}

// Defaults.
const (
	DefaultAddr         = "127.0.0.1:8080"
	DefaultDatabaseURL  = "postgres://postgres@127.0.0.1:5432/sessiond?sslmode=disable"
	DefaultRedisURL     = "redis://127.0.0.1:6379/0"
	DefaultRedisPrefix  = "sd"
	DefaultDataDir      = ".sessiond"
	MinOperatorTokenLen = 32
	// MinOperatorTokenBits is the least estimated entropy of an operator
	// token (see OperatorTokenBits), and MinOperatorTokenChars the least
	// number of distinct characters in it.
	MinOperatorTokenBits  = 128
	MinOperatorTokenChars = 10
	DefaultMaxBodyBytes   = 1 << 20
	// DefaultGuessLimit and DefaultGuessLimitPerCaller are the engine's.
	DefaultGuessLimit          = sessions.DefaultGuessLimit
	DefaultGuessLimitPerCaller = sessions.DefaultGuessLimitPerCaller
	// DefaultEventSpoolMax: see Config.
	DefaultEventSpoolMax = 1_000_000
)

// Var describes one environment variable, for `sessiond help` and the README.
type Var struct {
	Name, Default, Doc string
	Secret             bool
}

// Vars lists every variable Load reads.
var Vars = []Var{
	{"SESSIOND_ADDR", DefaultAddr, "listen address", false},
	{"DATABASE_URL", DefaultDatabaseURL, "PostgreSQL URL; the database is created if missing", false},
	{"REDIS_URL", DefaultRedisURL, "Redis URL; rediss:// for TLS", false},
	{"REDIS_CLUSTER", "false", "true for Redis Cluster (more seeds as addr= query parameters)", false},
	{"REDIS_CA_FILE", "", "PEM CA bundle to trust for rediss:// (private CA)", false},
	{"SESSIOND_REDIS_PREFIX", DefaultRedisPrefix, "prefix of every Redis key and channel", false},
	{"SESSIOND_OPERATOR_TOKEN", "(required)", "operator bearer token: at least 32 characters, no surrounding whitespace, about 128 bits of entropy or more (`sessiond keygen`)", true},
	{"SESSIOND_MASTER_KEY", "(required)", "base64 of 32 random bytes; encrypts keyring secrets at rest", true},
	{"SESSIOND_TLS_CERT", "", "TLS certificate file; serve HTTPS when set with SESSIOND_TLS_KEY", false},
	{"SESSIOND_TLS_KEY", "", "TLS private key file", false},
	{"SESSIOND_TRUSTED_PROXIES", "", "comma-separated CIDRs whose X-Forwarded-For is believed", false},
	{"SESSIOND_PUBLIC_URL", "", "the URL browsers reach sessiond at (https://sessions.example.com); the admin UI's origin check compares Origin with it instead of trusting the Host header", false},
	{"SESSIOND_DATA_DIR", DefaultDataDir, "where --dev keeps its generated keys", false},
	{"SESSIOND_LOG_LEVEL", "info", "debug, info, warn or error", false},
	{"SESSIOND_MAX_BODY_BYTES", strconv.Itoa(DefaultMaxBodyBytes), "largest request body; larger gets 413", false},
	{"SESSIOND_SHUTDOWN_TIMEOUT", "15s", "how long SIGTERM waits for in-flight requests", false},
	{"SESSIOND_DRAIN_DELAY", "5s", "after SIGTERM, how long /readyz answers 503 (so load balancers stop sending) while requests are still served, each with Connection: close, before the shutdown; 0 skips it", false},
	{"SESSIOND_CACHE_REFRESH", "30s", "full tenant-cache refresh interval (changes also arrive by pub/sub)", false},
	{"SESSIOND_CACHE_STALE_AFTER", "2s", "the most an instance lags behind a tenant change another instance published (at least 1s): past it, an instance that cannot confirm its cache reads the tenant from PostgreSQL, or answers 503", false},
	{"SESSIOND_EVENT_RETENTION", "2160h", "security events older than this are deleted, hourly (0 keeps them forever)", false},
	{"SESSIOND_ADMIN_IDLE_TIMEOUT", "15m", "admin UI sessions end after this long without a request", false},
	{"SESSIOND_ADMIN_ABSOLUTE_TIMEOUT", "8h", "admin UI sessions end this long after sign-in, whatever the activity", false},
	{"SESSIOND_GUESS_LIMIT", strconv.Itoa(DefaultGuessLimit), "forged session tokens a minute from one end user (the device.ip the app sends) before further forgeries from it get 429; valid tokens are never refused", false},
	{"SESSIOND_GUESS_LIMIT_PER_CALLER", strconv.Itoa(DefaultGuessLimitPerCaller), "the same budget per API caller IP, for calls that send no device.ip", false},
	{"SESSIOND_EVENT_SPOOL_MAX", strconv.Itoa(DefaultEventSpoolMax), "security events kept in Redis (under SESSIOND_REDIS_PREFIX) while PostgreSQL is unavailable, written back in order when it returns (0 turns the spool off)", false},
	{"SESSIOND_CEILING_MAX_DATA_BYTES", strconv.Itoa(tenants.DefaultCeilingMaxDataBytes), "default ceiling of a tenant's max_data_bytes policy (the operator sets each tenant's own with PATCH /v1/tenants/{id})", false},
	{"SESSIOND_CEILING_MAX_SESSIONS_PER_USER", strconv.Itoa(tenants.DefaultCeilingMaxSessionsPerUser), "default ceiling of a tenant's max_sessions_per_user (0, unlimited, is above it)", false},
	{"SESSIOND_CEILING_IDLE_TIMEOUT", "24h", "default ceiling of a tenant's idle_timeout (whole seconds)", false},
	{"SESSIOND_CEILING_ABSOLUTE_TIMEOUT", "720h", "default ceiling of a tenant's absolute_timeout (whole seconds; 720h = 30 days)", false},
	{"SESSIOND_CEILING_LIVE_SESSIONS", strconv.Itoa(tenants.DefaultCeilingLiveSessions), "default ceiling of a tenant's live sessions (approximate: counted every few seconds)", false},
	{"SESSIOND_CEILING_RETIRING_KEYS", strconv.Itoa(tenants.DefaultCeilingRetiringKeys), "default ceiling of a tenant's retiring signing keys; a rotation at it gets 409", false},
	{"SESSIOND_CEILING_EVENTS_PER_MINUTE", strconv.Itoa(tenants.DefaultCeilingEventsPerMinute), "default ceiling of the security events a minute stored for a tenant", false},
	{"OTEL_TRACES_EXPORTER", "", "otlp turns OpenTelemetry tracing on (OTLP over HTTP); none, or unset without an endpoint, keeps it off", false},
	{"OTEL_EXPORTER_OTLP_ENDPOINT", "", "OTLP/HTTP collector base URL (e.g. http://127.0.0.1:4318); setting it turns tracing on; the SDK also reads OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT and _CERTIFICATE", false},
	{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "", "the traces URL itself (e.g. http://127.0.0.1:4318/v1/traces), instead of the base URL", false},
	{"OTEL_EXPORTER_OTLP_PROTOCOL", "", "only http/protobuf (the default) is supported; grpc is refused at start", false},
	{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "", "the same, for traces only", false},
	{"OTEL_SDK_DISABLED", "", "true turns tracing off whatever the others say", false},
	{"SESSIOND_CEILING_REQUESTS_PER_SECOND", strconv.Itoa(tenants.DefaultCeilingRequestsPerSecond), "default ceiling of a tenant's API requests a second, per instance (N instances allow N times as many); past it 429", false},
}

// Load reads the configuration through getenv. Every variable's default is
// the one in Vars (written there once, shown by `sessiond help` and the
// README). It fails on values that do not parse, naming each; Validate
// checks that required secrets are present and strong.
func Load(getenv func(string) string) (Config, error) {
	e := &reader{getenv: getenv}
	c := Config{
		Addr:            e.text("SESSIOND_ADDR"),
		DatabaseURL:     e.secret("DATABASE_URL"),
		RedisURL:        e.secret("REDIS_URL"),
		RedisCluster:    e.boolean("REDIS_CLUSTER"),
		RedisCAFile:     e.text("REDIS_CA_FILE"),
		RedisPrefix:     e.text("SESSIOND_REDIS_PREFIX"),
		OperatorToken:   e.secret("SESSIOND_OPERATOR_TOKEN"),
		MasterKey:       e.masterKey("SESSIOND_MASTER_KEY"),
		TLSCert:         e.text("SESSIOND_TLS_CERT"),
		TLSKey:          e.text("SESSIOND_TLS_KEY"),
		TrustedProxies:  e.prefixes("SESSIOND_TRUSTED_PROXIES"),
		PublicOrigin:    e.origin("SESSIOND_PUBLIC_URL"),
		DataDir:         e.text("SESSIOND_DATA_DIR"),
		LogLevel:        e.oneOf("SESSIOND_LOG_LEVEL", "debug", "info", "warn", "error"),
		MaxBodyBytes:    e.atLeast("SESSIOND_MAX_BODY_BYTES", 1024, "want a whole number of bytes, at least 1024"),
		ShutdownGrace:   e.duration("SESSIOND_SHUTDOWN_TIMEOUT", false),
		DrainDelay:      e.duration("SESSIOND_DRAIN_DELAY", true),
		CacheRefresh:    e.duration("SESSIOND_CACHE_REFRESH", false),
		CacheStaleAfter: e.atLeastDuration("SESSIOND_CACHE_STALE_AFTER", time.Second),
		EventRetention:  e.duration("SESSIOND_EVENT_RETENTION", true),
		AdminIdle:       e.duration("SESSIOND_ADMIN_IDLE_TIMEOUT", false),
		AdminAbsolute:   e.duration("SESSIOND_ADMIN_ABSOLUTE_TIMEOUT", false),
		GuessLimit:      int(e.atLeast("SESSIOND_GUESS_LIMIT", 1, "want a whole number, at least 1")),
		GuessLimitPerCaller: int(e.atLeast("SESSIOND_GUESS_LIMIT_PER_CALLER", 1,
			"want a whole number, at least 1")),
		EventSpoolMax: e.atLeast("SESSIOND_EVENT_SPOOL_MAX", 0, "want a whole number of events, 0 (no spool) or more"),
		Ceilings:      e.ceilings(),
		Tracing:       e.tracing(),
	}
	return c, errors.Join(e.errs...)
}

// tracing reads the OTEL_* variables that decide whether tracing is on.
func (e *reader) tracing() bool {
	vals := map[string]string{}
	for _, name := range []string{"OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_SDK_DISABLED"} {
		vals[name] = e.text(name)
	}
	on, err := tracing.Enabled(func(name string) string { return vals[name] })
	if err != nil {
		e.errs = append(e.errs, err)
	}
	return on
}

// ceilings reads the SESSIOND_CEILING_* variables, one per tenants
// ceiling: SESSIOND_CEILING_ and its name in upper case, a duration for the
// timeouts (whole seconds) and a whole number for the others, each within
// its ceiling's range.
func (e *reader) ceilings() tenants.Limits {
	var l tenants.Limits
	for _, f := range tenants.LimitFields {
		name := "SESSIOND_CEILING_" + strings.ToUpper(f.Name)
		want := fmt.Sprintf("want a whole number from %d to %d", f.Min, f.Max)
		var n int64
		if f.Unit == "seconds" {
			want = fmt.Sprintf("want a duration of whole seconds from 1s to %v", time.Duration(f.Max)*time.Second)
			d, err := time.ParseDuration(e.text(name))
			if err != nil || d%time.Second != 0 {
				n = -1
			} else {
				n = int64(d / time.Second)
			}
		} else if v, err := strconv.ParseInt(e.text(name), 10, 64); err == nil {
			n = v
		} else {
			n = -1
		}
		if n < int64(f.Min) || n > int64(f.Max) {
			e.fail(name, "%s", want)
			continue
		}
		f.Set(&l, int(n))
	}
	return l
}

// reader reads variables through getenv, each with its default from Vars,
// and collects what does not parse.
type reader struct {
	getenv func(string) string
	errs   []error
}

// defaultOf is name's default in Vars ("" for required or optional ones).
// Reading a variable Vars does not list is a programming error.
func defaultOf(name string) string {
	for _, v := range Vars {
		if v.Name == name {
			if strings.HasPrefix(v.Default, "(") {
				return ""
			}
			return v.Default
		}
	}
	panic("config: " + name + " is not in Vars")
}

func (e *reader) fail(name, format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

// text is name's value, or its default.
func (e *reader) text(name string) string {
	if v := e.getenv(name); v != "" {
		return v
	}
	return defaultOf(name)
}

// secret is name's value, or the trimmed contents of the file named by
// name_FILE (not both), or its default.
func (e *reader) secret(name string) string {
	v, file := e.getenv(name), e.getenv(name+"_FILE")
	switch {
	case v != "" && file != "":
		e.errs = append(e.errs, fmt.Errorf("%s and %s_FILE are both set; set one", name, name))
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s_FILE: %w", name, err))
			return ""
		}
		v = strings.TrimSpace(string(b))
	}
	if v == "" {
		return defaultOf(name)
	}
	return v
}

func (e *reader) boolean(name string) bool {
	b, err := strconv.ParseBool(e.text(name))
	if err != nil {
		e.fail(name, "want true or false")
	}
	return b
}

// duration parses name as a positive duration (or 0, when zeroOK).
func (e *reader) duration(name string, zeroOK bool) time.Duration {
	d, err := time.ParseDuration(e.text(name))
	if err != nil || d < 0 || (d == 0 && !zeroOK) {
		e.fail(name, "want a positive duration like 30s")
	}
	return d
}

// atLeastDuration parses name as a duration of at least min.
func (e *reader) atLeastDuration(name string, min time.Duration) time.Duration {
	d, err := time.ParseDuration(e.text(name))
	if err != nil || d < min {
		e.fail(name, "want a duration of at least %s, like 2s", min)
	}
	return d
}

// atLeast parses name as a whole number of at least min.
func (e *reader) atLeast(name string, min int64, want string) int64 {
	n, err := strconv.ParseInt(e.text(name), 10, 64)
	if err != nil || n < min {
		e.fail(name, "%s", want)
	}
	return n
}

func (e *reader) oneOf(name string, allowed ...string) string {
	v := e.text(name)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	e.fail(name, "want %s or %s", strings.Join(allowed[:len(allowed)-1], ", "), allowed[len(allowed)-1])
	return v
}

// masterKey decodes the base64 secret name.
func (e *reader) masterKey(name string) []byte {
	mk := e.secret(name)
	if mk == "" {
		return nil
	}
	key, err := base64.StdEncoding.DecodeString(mk)
	if err != nil {
		e.fail(name, "not base64; make one with `sessiond keygen`")
	}
	return key
}

// prefixes parses a comma-separated list of CIDRs or single addresses.
func (e *reader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range strings.Split(e.text(name), ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				e.fail(name, "%q is not a CIDR", s)
				continue
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out
}

// origin parses name as a public URL (see PublicOrigin); "" when unset.
func (e *reader) origin(name string) string {
	v := e.text(name)
	if v == "" {
		return ""
	}
	o, err := PublicOrigin(v)
	if err != nil {
		e.fail(name, "%v", err)
	}
	return o
}

// Validate checks what serving needs: a strong operator token, a 32-byte
// master key, and TLS files in pairs. Its messages say how to fix each.
func (c Config) Validate() error {
	var errs []error
	if err := checkOperatorToken(c.OperatorToken); err != nil {
		errs = append(errs, err)
	}
	if len(c.MasterKey) != secrets.MasterKeySize {
		what := "is missing"
		if len(c.MasterKey) > 0 {
			what = fmt.Sprintf("decodes to %d bytes; exactly %d are required", len(c.MasterKey), secrets.MasterKeySize)
		}
		errs = append(errs, fmt.Errorf("SESSIOND_MASTER_KEY %s; make one with `sessiond keygen` (or run `sessiond serve --dev`)", what))
	}
	if c.AdminIdle > c.AdminAbsolute {
		errs = append(errs, errors.New("SESSIOND_ADMIN_IDLE_TIMEOUT must not exceed SESSIOND_ADMIN_ABSOLUTE_TIMEOUT"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("SESSIOND_TLS_CERT and SESSIOND_TLS_KEY must be set together"))
	}
	return errors.Join(errs...)
}

// checkOperatorToken refuses an operator token that is missing, shorter
// than MinOperatorTokenLen, has surrounding whitespace (the API trims a
// bearer credential, so it could never match), has fewer than
// MinOperatorTokenChars distinct characters, or an estimated entropy under
// MinOperatorTokenBits. `sessiond keygen` tokens (32 random bytes) pass with
// room to spare; a hand-made or 128-bit hex token does not.
func checkOperatorToken(tok string) error {
	fix := "; make one with `sessiond keygen` (or run `sessiond serve --dev`)"
	distinct := map[rune]bool{}
	for _, r := range tok {
		distinct[r] = true
	}
	var what string
	switch {
	case tok == "":
		what = "is missing"
	case strings.TrimSpace(tok) != tok:
		what = "has leading or trailing whitespace; remove it"
	case len(tok) < MinOperatorTokenLen:
		what = fmt.Sprintf("is %d characters; at least %d are required", len(tok), MinOperatorTokenLen)
	case len(distinct) == 1:
		what = "is one character repeated"
	case len(distinct) < MinOperatorTokenChars:
		what = fmt.Sprintf("has only %d distinct characters; at least %d are required", len(distinct), MinOperatorTokenChars)
	case OperatorTokenBits(tok) < MinOperatorTokenBits:
		what = fmt.Sprintf("looks guessable (about %.0f bits of entropy; at least %d are required)", OperatorTokenBits(tok), MinOperatorTokenBits)
	default:
		return nil
	}
	return errors.New("SESSIOND_OPERATOR_TOKEN " + what + fix)
}

// OperatorTokenBits estimates the entropy of tok in bits: its length times
// the Shannon entropy of its character frequencies. It is a lower-bound
// style estimate that catches repetition and small alphabets, not a proof
// of randomness.
func OperatorTokenBits(tok string) float64 {
	counts := map[rune]int{}
	n := 0
	for _, r := range tok {
		counts[r]++
		n++
	}
	h := 0.0
	for _, c := range counts {
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	return h * float64(n)
}

// PublicOrigin returns the browser Origin of a public URL such as
// "https://sessions.example.com/": the scheme and host in lower case,
// without a default port. It refuses anything but an absolute http or https
// URL without credentials, path, query or fragment.
func PublicOrigin(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", errors.New("not a URL; want one like https://sessions.example.com")
	case u.Scheme != "https" && u.Scheme != "http":
		return "", errors.New("want an http or https URL, like https://sessions.example.com")
	case u.Host == "" || u.Hostname() == "":
		return "", errors.New("no host; want a URL like https://sessions.example.com")
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return "", errors.New("want only a scheme, host and port, like https://sessions.example.com")
	}
	host := strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "https" && p == "443") || (u.Scheme == "http" && p == "80") {
		host = strings.TrimSuffix(host, ":"+p)
	}
	return u.Scheme + "://" + host, nil
}
