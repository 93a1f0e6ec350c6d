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
	"regexp"
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
	// ChangesMaxStreams bounds the GET /v1/changes streams one tenant holds
	// open on one instance (SESSIOND_CHANGES_MAX_STREAMS).
	ChangesMaxStreams int
	// WebhookAllowPrivate lifts the webhook URL rules (https only, public
	// addresses only) for tests and private deployments
	// (SESSIOND_WEBHOOK_ALLOW_PRIVATE).
	WebhookAllowPrivate bool
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
	// MinOperatorTokenBits is the least an operator token must carry by the
	// size of its alphabet (see OperatorTokenBits).
	MinOperatorTokenBits = 128
	DefaultMaxBodyBytes  = 1 << 20
	// DefaultGuessLimit and DefaultGuessLimitPerCaller are the engine's.
	DefaultGuessLimit          = sessions.DefaultGuessLimit
	DefaultGuessLimitPerCaller = sessions.DefaultGuessLimitPerCaller
	// DefaultEventSpoolMax: see Config.
	DefaultEventSpoolMax = 1_000_000
	// DefaultChangesMaxStreams: see Config.
	DefaultChangesMaxStreams = 100
	// DefaultAdminIdle and DefaultAdminAbsolute are the admin UI sessions'
	// timeouts (SESSIOND_ADMIN_*_TIMEOUT).
	DefaultAdminIdle     = 15 * time.Minute
	DefaultAdminAbsolute = 8 * time.Hour
)

// AdminSessionTimeouts returns the admin UI sessions' idle and absolute
// timeouts: AdminIdle and AdminAbsolute, or the defaults where a Config
// built by hand leaves them unset.
func (c Config) AdminSessionTimeouts() (idle, absolute time.Duration) {
	idle, absolute = c.AdminIdle, c.AdminAbsolute
	if idle <= 0 {
		idle = DefaultAdminIdle
	}
	if absolute <= 0 {
		absolute = DefaultAdminAbsolute
	}
	return idle, absolute
}

// durationText writes d as a person would: 15m, 8h, 90s.
func durationText(d time.Duration) string {
	s := d.String()
	if t, ok := strings.CutSuffix(s, "m0s"); ok {
		s = t + "m"
	}
	if t, ok := strings.CutSuffix(s, "h0m"); ok {
		s = t + "h"
	}
	return s
}

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
	{"SESSIOND_OPERATOR_TOKEN", "(required)", "operator bearer token: at least 32 printable characters carrying at least 128 bits by the size of their alphabet (32 hex characters do), no run of 8 repeated or sequential characters and no repeated 8-character block (`sessiond keygen operator-token`, or `openssl rand -hex 32`)", true},
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
	{"SESSIOND_EVENT_RETENTION", "2160h", "security events older than this, and finished webhook deliveries as old, are deleted hourly (0 keeps them forever)", false},
	{"SESSIOND_ADMIN_IDLE_TIMEOUT", durationText(DefaultAdminIdle), "admin UI sessions end after this long without a request", false},
	{"SESSIOND_ADMIN_ABSOLUTE_TIMEOUT", durationText(DefaultAdminAbsolute), "admin UI sessions end this long after sign-in, whatever the activity", false},
	{"SESSIOND_GUESS_LIMIT", strconv.Itoa(DefaultGuessLimit), "forged session tokens a minute from one end user (the device.ip the app sends) before further forgeries from it get 429; valid tokens are never refused", false},
	{"SESSIOND_GUESS_LIMIT_PER_CALLER", strconv.Itoa(DefaultGuessLimitPerCaller), "the same budget per API caller IP, for calls that send no device.ip", false},
	{"SESSIOND_EVENT_SPOOL_MAX", strconv.Itoa(DefaultEventSpoolMax), "security events kept in Redis (under SESSIOND_REDIS_PREFIX) while PostgreSQL is unavailable, written back in order when it returns (0 turns the spool off)", false},
	{"SESSIOND_CHANGES_MAX_STREAMS", strconv.Itoa(DefaultChangesMaxStreams), "GET /v1/changes streams one tenant may hold open on one instance; past it 429", false},
	{"SESSIOND_WEBHOOK_ALLOW_PRIVATE", "false", "true lets webhook endpoints use plain http and loopback, private, link-local and metadata addresses (tests, private deployments); leave false wherever tenants are not trusted with your network", false},
	{"SESSIOND_CEILING_MAX_DATA_BYTES", strconv.Itoa(tenants.DefaultCeilingMaxDataBytes), "default ceiling of a tenant's max_data_bytes policy (the operator sets each tenant's own with PATCH /v1/tenants/{id})", false},
	{"SESSIOND_CEILING_MAX_SESSIONS_PER_USER", strconv.Itoa(tenants.DefaultCeilingMaxSessionsPerUser), "default ceiling of a tenant's max_sessions_per_user (0, unlimited, is above it)", false},
	{"SESSIOND_CEILING_IDLE_TIMEOUT", "24h", "default ceiling of a tenant's idle_timeout (whole seconds)", false},
	{"SESSIOND_CEILING_ABSOLUTE_TIMEOUT", "720h", "default ceiling of a tenant's absolute_timeout (whole seconds; 720h = 30 days)", false},
	{"SESSIOND_CEILING_LIVE_SESSIONS", strconv.Itoa(tenants.DefaultCeilingLiveSessions), "default ceiling of a tenant's live sessions (approximate: counted every few seconds)", false},
	{"SESSIOND_CEILING_RETIRING_KEYS", strconv.Itoa(tenants.DefaultCeilingRetiringKeys), "default ceiling of a tenant's retiring signing keys; a rotation at it gets 409", false},
	{"SESSIOND_CEILING_EVENTS_PER_MINUTE", strconv.Itoa(tenants.DefaultCeilingEventsPerMinute), "default ceiling of the security events a minute stored for a tenant", false},
	{"SESSIOND_CEILING_WEBHOOK_ENDPOINTS", strconv.Itoa(tenants.DefaultCeilingWebhookEndpoints), "default ceiling of a tenant's webhook endpoints; creating one more gets 409", false},
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
		EventSpoolMax:       e.atLeast("SESSIOND_EVENT_SPOOL_MAX", 0, "want a whole number of events, 0 (no spool) or more"),
		Ceilings:            e.ceilings(),
		ChangesMaxStreams:   int(e.atLeast("SESSIOND_CHANGES_MAX_STREAMS", 1, "want a whole number of streams, at least 1")),
		WebhookAllowPrivate: e.boolean("SESSIOND_WEBHOOK_ALLOW_PRIVATE"),
		Tracing:             e.tracing(),
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
		if v, err = fileSecret(name, string(b)); err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s_FILE (%s): %w", name, file, err))
			return ""
		}
	}
	if v == "" {
		return defaultOf(name)
	}
	return v
}

// assignment matches a line NAME=value whose NAME looks like an
// environment variable (upper case, at least one underscore), so a base64
// value ending in "=" is never taken for one.
var assignment = regexp.MustCompile(`^(?:export\s+)?([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)=(.+)$`)

// fileSecret is the secret a name_FILE holds: the file's trimmed contents,
// or the value of a single line "name=value" (what `sessiond keygen`
// prints) when it names this variable. A line naming another variable, or
// several lines, is refused with what the file holds and how to fix it.
func fileSecret(name, contents string) (string, error) {
	v := strings.TrimSpace(contents)
	fix := "put only the value in it"
	if k := keygenName(name); k != "" {
		fix += fmt.Sprintf(", e.g. `sessiond keygen %s > FILE`", k)
	}
	lines := strings.Split(v, "\n")
	if len(lines) > 1 {
		n := 0
		for _, l := range lines {
			if assignment.MatchString(strings.TrimSpace(l)) {
				n++
			}
		}
		if n > 0 {
			return "", fmt.Errorf("the file holds %d lines of KEY=value (the output of plain `sessiond keygen`); %s", n, fix)
		}
		return "", fmt.Errorf("the file holds %d lines; a secret file holds one value; %s", len(lines), fix)
	}
	m := assignment.FindStringSubmatch(v)
	if m == nil {
		return v, nil
	}
	if m[1] != name {
		return "", fmt.Errorf("the file holds %s=…, a value for another variable; %s", m[1], fix)
	}
	return strings.TrimSpace(m[2]), nil
}

// keygenName is the `sessiond keygen` argument that makes name's value.
func keygenName(name string) string {
	switch name {
	case "SESSIOND_MASTER_KEY":
		return "master-key"
	case "SESSIOND_OPERATOR_TOKEN":
		return "operator-token"
	}
	return ""
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
		e.fail(name, "not base64; make one with `sessiond keygen master-key`")
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
		errs = append(errs, fmt.Errorf("SESSIOND_MASTER_KEY %s; make one with `sessiond keygen master-key` (or run `sessiond serve --dev`)", what))
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
// bearer credential, so it could never match) or characters outside
// printable ASCII, carries fewer than MinOperatorTokenBits by the size of
// its alphabet (OperatorTokenBits), or holds a pattern no random source
// makes (tokenPattern). The rule judges where a token comes from, not how
// its sample happens to look: `openssl rand -hex 16` (128 bits) and
// `sessiond keygen` tokens pass, a typed sequence does not.
func checkOperatorToken(tok string) error {
	fix := "; make one with `sessiond keygen operator-token` or `openssl rand -hex 32` (or run `sessiond serve --dev`)"
	var what string
	switch {
	case tok == "":
		what = "is missing"
	case strings.TrimSpace(tok) != tok:
		what = "has leading or trailing whitespace; remove it"
	case len(tok) < MinOperatorTokenLen:
		what = fmt.Sprintf("is %d characters; at least %d are required", len(tok), MinOperatorTokenLen)
	case !printableASCII(tok):
		what = "has characters outside printable ASCII"
	case OperatorTokenBits(tok) < MinOperatorTokenBits:
		what = fmt.Sprintf("carries %.0f bits (%d characters from an alphabet of %d); at least %d are required: make it longer",
			OperatorTokenBits(tok), len(tok), tokenAlphabet(tok), MinOperatorTokenBits)
	default:
		p := tokenPattern(tok)
		if p == "" {
			return nil
		}
		what = p + ", which a random token does not"
	}
	return errors.New("SESSIOND_OPERATOR_TOKEN " + what + fix)
}

// TokenPatternRun is the length from which a run of one repeated character,
// a sequence (abcdefgh, 76543210) or a repeated block refuses an operator
// token. A random 32-character hex token holds one by chance about once in
// three million (see the test); a typed or patterned token nearly always.
const TokenPatternRun = 8

// OperatorTokenBits is what tok could carry if drawn at random from its
// alphabet: its length times log2 of the alphabet's size (tokenAlphabet).
// A 32-character hex token carries 128 bits.
func OperatorTokenBits(tok string) float64 {
	return float64(len(tok)) * math.Log2(float64(tokenAlphabet(tok)))
}

// tokenAlphabet is the size of the smallest usual alphabet tok is drawn
// from: 10 for digits only, 16 for hex (one case), otherwise the sum of the
// groups it uses (digits 10, lower-case 26, upper-case 26, punctuation 33).
func tokenAlphabet(tok string) int {
	var digit, lower, upper, punct, beyondF bool // beyondF: a letter past f/F
	for _, r := range tok {
		switch {
		case r >= '0' && r <= '9':
			digit = true
		case r >= 'a' && r <= 'z':
			lower, beyondF = true, beyondF || r > 'f'
		case r >= 'A' && r <= 'Z':
			upper, beyondF = true, beyondF || r > 'F'
		default:
			punct = true
		}
	}
	switch {
	case !lower && !upper && !punct:
		return 10
	case !punct && !beyondF && !(lower && upper):
		return 16
	}
	n := 0
	for _, g := range []struct {
		used bool
		size int
	}{{digit, 10}, {lower, 26}, {upper, 26}, {punct, 33}} {
		if g.used {
			n += g.size
		}
	}
	return n
}

// tokenPattern names the first pattern in tok a person makes and a random
// source (almost) never does, or returns "": TokenPatternRun characters
// that repeat one character or step through digits and letters one at a
// time (0123456789abc…, in either direction and either case), or a block of
// TokenPatternRun characters that occurs twice.
func tokenPattern(tok string) string {
	rank := func(c byte) int { // digits, then letters in either case
		switch {
		case c >= '0' && c <= '9':
			return int(c - '0')
		case c >= 'a' && c <= 'z':
			return int(c-'a') + 10
		case c >= 'A' && c <= 'Z':
			return int(c-'A') + 10
		}
		return 100 + int(c) // punctuation: only repeats of itself
	}
	run, step := 1, 0
	for i := 1; i < len(tok); i++ {
		d := rank(tok[i]) - rank(tok[i-1])
		switch {
		case d < -1 || d > 1:
			run = 1
			continue
		case run > 1 && d == step:
			run++
		default:
			run, step = 2, d
		}
		if run >= TokenPatternRun {
			if step == 0 {
				return fmt.Sprintf("repeats one character %d times in a row", TokenPatternRun)
			}
			return fmt.Sprintf("holds a sequence of %d characters (like abcdefgh or 98765432)", TokenPatternRun)
		}
	}
	seen := map[string]bool{}
	for i := 0; i+TokenPatternRun <= len(tok); i++ {
		block := tok[i : i+TokenPatternRun]
		if seen[block] {
			return fmt.Sprintf("repeats a block of %d characters", TokenPatternRun)
		}
		seen[block] = true
	}
	return ""
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
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
