// Package sessiond is the Go client of sessiond: a context-first Client of
// its REST API, and net/http middleware that gives each request its
// session (FromRequest), with hardened cookies, CSRF checks, re-signed
// tokens after key rotation, re-authentication and outage handling.
//
// Standard library only. Switch on error codes (CodeOf, IsSessionEnded,
// IsUnavailable), never on HTTP statuses: "unauthorized" (the API key is
// bad) and "session_invalid" (the user's session is over) are both 401, and
// only the second means "log the user out".
package sessiond

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls one sessiond with one credential (a tenant API key, or the
// operator token for CreateTenant). It is safe for concurrent use; make one
// and reuse it (its http.Client keeps connections alive).
type Client struct {
	base      string
	apiKey    string
	http      *http.Client
	userAgent string
	// auth and ua are the header values every call sends, made once.
	auth, ua []string
	// cacheOpts (WithCache) asks for cache, the local session cache.
	cacheOpts *CacheOptions
	cache     *cache
}

// Option changes a Client.
type Option func(*Client)

// WithHTTPClient makes the Client use hc (default: a keep-alive client with a 5 s timeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithTimeout sets the per-call timeout (default 5 s); a timeout is an "unavailable" error.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		hc := *c.http
		hc.Timeout = d
		c.http = &hc
	}
}

// WithUserAgent sets the User-Agent of calls to sessiond.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a Client of the sessiond at baseURL (e.g. "http://127.0.0.1:8080").
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sessiond: base URL %q must be http(s)://host[:port]", baseURL)
	}
	if apiKey == "" {
		return nil, errors.New("sessiond: an API key is required")
	}
	c := &Client{
		base:      strings.TrimRight(baseURL, "/"),
		apiKey:    apiKey,
		http:      &http.Client{Transport: newTransport(), Timeout: 5 * time.Second},
		userAgent: "sessiond-go/0.1",
	}
	for _, o := range opts {
		o(c)
	}
	c.auth = []string{"Bearer " + c.apiKey}
	c.ua = []string{c.userAgent}
	if c.cacheOpts != nil {
		c.cache = newCache(c, *c.cacheOpts)
	}
	return c, nil
}

// Close stops the change stream of a Client made WithCache (its Verify then
// always asks sessiond) and closes idle connections.
func (c *Client) Close() {
	if c.cache != nil {
		c.cache.close()
	}
	c.http.CloseIdleConnections()
}

// CacheStats reports the local cache's state and counters (zero without WithCache).
func (c *Client) CacheStats() CacheStats {
	if c.cache == nil {
		return CacheStats{}
	}
	return c.cache.stats()
}

// forgetting runs call, a call that ends or changes sessions, dropping their
// cache entries before it (no hit serves them meanwhile) and after it (no
// verify that raced it keeps a stale answer): this Client reads its own
// writes without waiting for the change stream.
func (c *Client) forgetting(forget func(k *cache), call func() error) error {
	if c.cache == nil {
		return call()
	}
	forget(c.cache)
	defer forget(c.cache)
	return call()
}

// newTransport is the Client's own connection pool to sessiond: every
// request goes to one host, so the per-host idle pool is as large as the
// whole one (the default keeps only 2 idle connections per host, and under
// concurrency closes and redials the rest on every burst). No proxy from the
// environment: sessiond is a backend service, not the Internet.
func newTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		WriteBufferSize:       8 << 10,
		ReadBufferSize:        8 << 10,
	}
}

// --- the API's types (api/openapi.yaml, components.schemas) ---------------

// Session is a session as sessiond describes it. It never holds the token.
type Session struct {
	ID            string         `json:"id"`
	UserID        string         `json:"user_id,omitempty"`
	CreatedAt     time.Time      `json:"created_at"`
	LastSeenAt    time.Time      `json:"last_seen_at"`
	AuthTime      *time.Time     `json:"auth_time,omitempty"`
	ExpiresAt     time.Time      `json:"expires_at"`
	IdleExpiresAt time.Time      `json:"idle_expires_at"`
	IdleTimeout   int            `json:"idle_timeout"`
	Device        Device         `json:"device"`
	Data          map[string]any `json:"data"`
	Version       int64          `json:"version"`
	// AMR are the authentication methods the user proved, each with when;
	// AAL is the assurance level they give (2: two kinds of factor).
	AMR []Factor `json:"amr"`
	AAL int      `json:"aal"`
	// Profile is the lifetime the session lives by: "standard",
	// "remember_me" or "impersonation"; Actor who holds an impersonated one.
	Profile string `json:"profile"`
	Actor   *Actor `json:"actor,omitempty"`
}

// Actor is who acts as the user in an impersonated session: Type is
// "admin", "support" or "service", ID its id in the app.
type Actor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Factor is an authentication method (RFC 8176: "pwd", "otp", "hwk", …)
// the user proved, and when.
type Factor struct {
	Method string    `json:"method"`
	At     time.Time `json:"at"`
}

// Device is the device a session was created from.
type Device struct {
	UserAgent string `json:"user_agent,omitempty"`
	IP        string `json:"ip,omitempty"`
	Label     string `json:"label,omitempty"`
}

// DeviceIn is the end user's device as the app sees it.
type DeviceIn struct {
	UserAgent string `json:"user_agent,omitempty"`
	IP        string `json:"ip,omitempty"`
}

// CreateParams starts a session; with UserID it is a login.
type CreateParams struct {
	UserID          string         `json:"user_id,omitempty"`
	Data            map[string]any `json:"data,omitempty"`
	Device          *DeviceIn      `json:"device,omitempty"`
	IdleTimeout     int            `json:"idle_timeout,omitempty"`     // seconds; may only shorten the policy's
	AbsoluteTimeout int            `json:"absolute_timeout,omitempty"` // seconds; may only shorten the policy's
	AMR             []string       `json:"amr,omitempty"`              // methods the user proved to log in
	Remember        bool           `json:"remember,omitempty"`         // a remember-me session (the policy's remember_me lifetime)
	Actor           *Actor         `json:"actor,omitempty"`            // an impersonated session, held by Actor as UserID
}

// Issued is a new token for a session (create or regenerate).
type Issued struct {
	Token     string   `json:"token"`
	CSRFToken string   `json:"csrf_token"`
	Session   Session  `json:"session"`
	Evicted   []string `json:"evicted"`
}

// VerifyParams verifies a token. Token may be any string (a cookie as sent).
type VerifyParams struct {
	Token      string    `json:"token"`
	CSRFToken  *string   `json:"csrf_token,omitempty"`
	MaxAuthAge *int      `json:"max_auth_age,omitempty"` // seconds
	Device     *DeviceIn `json:"device,omitempty"`
	// MinAAL and MaxFactorAge (seconds per method) are step-up checks:
	// short of them, verify fails with code step_up_required.
	MinAAL       int            `json:"min_aal,omitempty"`
	MaxFactorAge map[string]int `json:"max_factor_age,omitempty"`
}

// Verified is a valid session. Token is set when sessiond re-signed the
// token after a key rotation: replace the cookie with it.
type Verified struct {
	Session         Session  `json:"session"`
	Token           string   `json:"token,omitempty"`
	CSRFToken       string   `json:"csrf_token"`
	BindingMismatch []string `json:"binding_mismatch,omitempty"`
}

// RegenerateParams replaces a session's token: UserID logs in,
// Reauthenticated resets auth_time.
type RegenerateParams struct {
	Token           string   `json:"token"`
	UserID          string   `json:"user_id,omitempty"`
	Reauthenticated bool     `json:"reauthenticated,omitempty"`
	AMR             []string `json:"amr,omitempty"`      // methods proved: the login's, or added at a step-up
	Remember        bool     `json:"remember,omitempty"` // with UserID: a remember-me login
}

// Key is a signing key's metadata.
type Key struct {
	KID       string     `json:"kid"`
	State     string     `json:"state"`
	CreatedAt time.Time  `json:"created_at"`
	RetiresAt *time.Time `json:"retires_at,omitempty"`
	RetiredAt *time.Time `json:"retired_at,omitempty"`
}

// APIKey is an API key's metadata; Secret is set only when it was just created.
type APIKey struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"`
	Prefix    string    `json:"prefix"`
	CreatedAt time.Time `json:"created_at"`
	Secret    string    `json:"secret,omitempty"`
}

// Tenant is a tenant of the deployment.
type Tenant struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

// TenantCreated is a new tenant and its first API key (secret shown once).
type TenantCreated struct {
	Tenant Tenant `json:"tenant"`
	APIKey APIKey `json:"api_key"`
}

// --- operations -------------------------------------------------------------

// operation is one call of the API; operations lists every one this client
// makes, and the tests check each against api/openapi.yaml.
type operation struct {
	Method, Path string
	Status       int
	Sends        []string // request body fields
	Reads        []string // response body fields
	Query        []string
}

var (
	opCreate       = operation{"POST", "/v1/sessions", 201, []string{"user_id", "data", "device", "idle_timeout", "absolute_timeout", "amr", "remember", "actor"}, []string{"token", "csrf_token", "session", "evicted"}, nil}
	opVerify       = operation{"POST", "/v1/sessions/verify", 200, []string{"token", "csrf_token", "max_auth_age", "device", "min_aal", "max_factor_age"}, []string{"session", "token", "csrf_token", "binding_mismatch"}, nil}
	opRegenerate   = operation{"POST", "/v1/sessions/regenerate", 200, []string{"token", "user_id", "reauthenticated", "amr", "remember"}, []string{"token", "csrf_token", "session", "evicted"}, nil}
	opRevokeToken  = operation{"POST", "/v1/sessions/revoke", 204, []string{"token"}, nil, nil}
	opGet          = operation{"GET", "/v1/sessions/{session_id}", 200, nil, []string{"id", "user_id", "data", "version", "expires_at", "auth_time", "device", "amr", "aal", "profile", "actor"}, nil}
	opPatch        = operation{"PATCH", "/v1/sessions/{session_id}", 200, nil, []string{"id", "data", "version"}, nil}
	opRevoke       = operation{"DELETE", "/v1/sessions/{session_id}", 204, nil, nil, nil}
	opUserSessions = operation{"GET", "/v1/users/{user_id}/sessions", 200, nil, []string{"sessions", "next_cursor"}, []string{"cursor", "limit"}}
	opRevokeUser   = operation{"DELETE", "/v1/users/{user_id}/sessions", 200, nil, []string{"revoked"}, []string{"except", "actor"}}
	opListKeys     = operation{"GET", "/v1/keys", 200, nil, []string{"keys"}, nil}
	opRotateKey    = operation{"POST", "/v1/keys/rotate", 201, []string{"grace_period"}, []string{"kid", "state"}, nil}
	opRetireKey    = operation{"POST", "/v1/keys/{kid}/retire", 200, nil, []string{"kid", "state"}, nil}
	opCreateAPIKey = operation{"POST", "/v1/api-keys", 201, []string{"name", "scopes"}, []string{"id", "secret"}, nil}
	opRevokeAPIKey = operation{"DELETE", "/v1/api-keys/{api_key_id}", 204, nil, nil, nil}
	opCreateTenant = operation{"POST", "/v1/tenants", 201, []string{"name"}, []string{"tenant", "api_key"}, nil}

	operations = []operation{opCreate, opVerify, opRegenerate, opRevokeToken, opGet, opPatch, opRevoke,
		opUserSessions, opRevokeUser, opListKeys, opRotateKey, opRetireKey, opCreateAPIKey, opRevokeAPIKey, opCreateTenant}
)

// CreateSession starts a session (a login when p.UserID is set). Errors:
// CodeSessionLimitReached under a "reject" policy.
func (c *Client) CreateSession(ctx context.Context, p CreateParams) (Issued, error) {
	var out Issued
	return out, c.do(ctx, opCreate, nil, nil, p, nil, &out)
}

// Verify checks a token (and the CSRF token, max_auth_age and device when
// given), the step-up requirements (the policy's min_aal; MinAAL and
// MaxFactorAge when given) and slides the idle timer. Errors: the
// session-ended codes (IsSessionEnded), CodeCSRFMismatch,
// CodeReauthRequired, CodeStepUpRequired (Error.StepUp, StepUpOf).
//
// With WithCache, a verify the cache may answer makes no network call; the
// Session it returns is shared with the cache: treat it as read-only.
func (c *Client) Verify(ctx context.Context, p VerifyParams) (Verified, error) {
	if c.cache != nil {
		return c.cache.verify(ctx, p)
	}
	return c.verifyNetwork(ctx, p)
}

func (c *Client) verifyNetwork(ctx context.Context, p VerifyParams) (Verified, error) {
	var out Verified
	return out, c.do(ctx, opVerify, nil, nil, p, nil, &out)
}

// Regenerate issues a new token, id and CSRF token for the session; the old
// token dies at once.
func (c *Client) Regenerate(ctx context.Context, p RegenerateParams) (Issued, error) {
	var out Issued
	return out, c.forgetting(func(k *cache) { k.forgetToken(p.Token) }, func() error {
		return c.do(ctx, opRegenerate, nil, nil, p, nil, &out)
	})
}

// RevokeToken ends the session of a token (logout). Idempotent: a token
// already gone, or junk, succeeds too.
func (c *Client) RevokeToken(ctx context.Context, token string) error {
	return c.forgetting(func(k *cache) { k.forgetToken(token) }, func() error {
		return c.do(ctx, opRevokeToken, nil, nil, map[string]string{"token": token}, nil, nil)
	})
}

// GetSession reads a session by its public id. Errors: CodeNotFound.
func (c *Client) GetSession(ctx context.Context, id string) (Session, error) {
	var out Session
	return out, c.do(ctx, opGet, []string{id}, nil, nil, nil, &out)
}

// PatchData applies an RFC 7396 JSON merge patch to a session's data (nil
// members are removed). With ifVersion > 0 it applies only to that version
// (else CodeVersionConflict).
func (c *Client) PatchData(ctx context.Context, id string, patch map[string]any, ifVersion int64) (Session, error) {
	var out Session
	h := http.Header{}
	if ifVersion > 0 {
		h.Set("If-Match", `"`+strconv.FormatInt(ifVersion, 10)+`"`)
	}
	return out, c.forgetting(func(k *cache) { k.forgetSessions([]string{id}) }, func() error {
		return c.do(ctx, opPatch, []string{id}, nil, patch, h, &out)
	})
}

// RevokeSession revokes a session by its public id. Errors: CodeNotFound.
func (c *Client) RevokeSession(ctx context.Context, id string) error {
	return c.forgetting(func(k *cache) { k.forgetSessions([]string{id}) }, func() error {
		return c.do(ctx, opRevoke, []string{id}, nil, nil, nil, nil)
	})
}

// SessionPage is one page of a listing; NextCursor is "" on the last page.
type SessionPage struct {
	Sessions   []Session `json:"sessions"`
	NextCursor string    `json:"next_cursor"`
}

// UserSessionsPage lists one page of a user's live sessions (devices),
// oldest first: cursor "" for the first page, limit 0 for the default (50; at most 200).
func (c *Client) UserSessionsPage(ctx context.Context, userID, cursor string, limit int) (SessionPage, error) {
	var out SessionPage
	q := url.Values{}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return out, c.do(ctx, opUserSessions, []string{userID}, q, nil, nil, &out)
}

// UserSessions lists all of a user's live sessions (devices), oldest first,
// following every page (at most 10,000 sessions).
func (c *Client) UserSessions(ctx context.Context, userID string) ([]Session, error) {
	var all []Session
	cursor := ""
	for {
		page, err := c.UserSessionsPage(ctx, userID, cursor, 200)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Sessions...)
		if page.NextCursor == "" || len(all) >= 10000 {
			return all, nil
		}
		cursor = page.NextCursor
	}
}

// RevokeUserSessions ends every session of a user but except ("log out
// other devices"), or all of them when except is "". It returns the ids ended.
func (c *Client) RevokeUserSessions(ctx context.Context, userID, except string) ([]string, error) {
	var out struct {
		Revoked []string `json:"revoked"`
	}
	q := url.Values{}
	if except != "" {
		q.Set("except", except)
	}
	err := c.forgetting(func(k *cache) { k.forgetUser(userID, except) }, func() error {
		return c.do(ctx, opRevokeUser, []string{userID}, q, nil, nil, &out)
	})
	return out.Revoked, err
}

// RevokeImpersonations ends every impersonated session of a user (those
// created with CreateParams.Actor), leaving the user's own sessions. It
// returns the ids ended. (RevokeUserSessions ends them too.)
func (c *Client) RevokeImpersonations(ctx context.Context, userID string) ([]string, error) {
	var out struct {
		Revoked []string `json:"revoked"`
	}
	q := url.Values{"actor": {"any"}}
	err := c.forgetting(func(k *cache) { k.forgetActing(userID) }, func() error {
		return c.do(ctx, opRevokeUser, []string{userID}, q, nil, nil, &out)
	})
	if err == nil && c.cache != nil {
		c.cache.forgetSessions(out.Revoked)
	}
	return out.Revoked, err
}

// Keys lists the signing keyring, newest first (API key with the admin scope).
func (c *Client) Keys(ctx context.Context) ([]Key, error) {
	var out struct {
		Keys []Key `json:"keys"`
	}
	return out.Keys, c.do(ctx, opListKeys, nil, nil, nil, nil, &out)
}

// RotateKey makes a new active signing key; the old one keeps verifying
// (and re-signing) for its grace period.
func (c *Client) RotateKey(ctx context.Context) (Key, error) {
	var out Key
	return out, c.do(ctx, opRotateKey, nil, nil, struct{}{}, nil, &out)
}

// RetireKey retires a retiring key now: its tokens stop verifying.
func (c *Client) RetireKey(ctx context.Context, kid string) (Key, error) {
	var out Key
	return out, c.do(ctx, opRetireKey, []string{kid}, nil, nil, nil, &out)
}

// CreateAPIKey makes an API key with the given scopes ("sessions", "admin").
func (c *Client) CreateAPIKey(ctx context.Context, name string, scopes ...string) (APIKey, error) {
	var out APIKey
	return out, c.do(ctx, opCreateAPIKey, nil, nil, map[string]any{"name": name, "scopes": scopes}, nil, &out)
}

// RevokeAPIKey revokes an API key; it stops working on every instance within a second.
func (c *Client) RevokeAPIKey(ctx context.Context, id string) error {
	return c.do(ctx, opRevokeAPIKey, []string{id}, nil, nil, nil, nil)
}

// CreateTenant creates a tenant (operator token); the answer holds its first API key.
func (c *Client) CreateTenant(ctx context.Context, name string) (TenantCreated, error) {
	var out TenantCreated
	return out, c.do(ctx, opCreateTenant, nil, nil, map[string]string{"name": name}, nil, &out)
}

// do makes one call: path parameters fill the {placeholders} in order.
func (c *Client) do(ctx context.Context, op operation, params []string, q url.Values, body any, h http.Header, out any) error {
	path := op.Path
	for _, p := range params {
		i, j := strings.IndexByte(path, '{'), strings.IndexByte(path, '}')
		path = path[:i] + url.PathEscape(p) + path[j+1:]
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("sessiond: encoding %s %s: %w", op.Method, op.Path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, op.Method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("sessiond: %s %s: %w", op.Method, op.Path, err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header["Authorization"] = c.auth
	req.Header["Accept"] = acceptJSON
	req.Header["User-Agent"] = c.ua
	if tp, ts := traceHeaders(ctx); tp != "" { // WithTraceparent (trace.go)
		req.Header.Set("traceparent", tp)
		if ts != "" {
			req.Header.Set("tracestate", ts)
		}
	}
	if body != nil {
		req.Header["Content-Type"] = contentJSON
		if op.Method == "PATCH" {
			req.Header["Content-Type"] = contentMergePatch
		}
	}
	res, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ctx.Err() // the caller gave up: not an outage
		}
		return &Error{Code: CodeUnavailable, Detail: fmt.Sprintf("sessiond unreachable (%s %s)", op.Method, op.Path), Err: err}
	}
	defer res.Body.Close()
	raw, err := readBody(res)
	if err != nil {
		return &Error{Code: CodeUnavailable, HTTPStatus: res.StatusCode, Detail: fmt.Sprintf("sessiond response lost (%s %s)", op.Method, op.Path), Err: err}
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		if out == nil || len(raw) == 0 {
			return nil
		}
		if err := json.Unmarshal(raw, out); err != nil {
			return &Error{Code: CodeInternal, HTTPStatus: res.StatusCode, Detail: fmt.Sprintf("sessiond sent invalid JSON (%s %s)", op.Method, op.Path), Err: err}
		}
		return nil
	}
	return problemError(op, res, raw)
}

// Header values shared by every call (the transport only reads them).
var (
	acceptJSON        = []string{"application/json, application/problem+json"}
	contentJSON       = []string{"application/json"}
	contentMergePatch = []string{"application/merge-patch+json"}
)

// readBody reads a response body (at most 8 MiB) into a buffer sized from
// Content-Length when sessiond sent one, so a verify answer is read without
// the regrowing io.ReadAll does.
func readBody(res *http.Response) ([]byte, error) {
	const max = 8 << 20
	if n := res.ContentLength; n >= 0 && n <= max {
		b := make([]byte, n)
		_, err := io.ReadFull(res.Body, b)
		return b, err
	}
	return io.ReadAll(io.LimitReader(res.Body, max))
}

func problemError(op operation, res *http.Response, raw []byte) *Error {
	e := &Error{HTTPStatus: res.StatusCode, RequestID: res.Header.Get("X-Request-Id")}
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s >= 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	var p struct {
		Code, Title, Detail string
		RequestID           string  `json:"request_id"`
		StepUp              *StepUp `json:"step_up"`
	}
	if strings.Contains(res.Header.Get("Content-Type"), "json") && json.Unmarshal(raw, &p) == nil && p.Code != "" {
		e.Code, e.Detail = p.Code, p.Detail
		if e.Detail == "" {
			e.Detail = p.Title
		}
		if p.RequestID != "" {
			e.RequestID = p.RequestID
		}
		if p.Code == CodeStepUpRequired {
			e.StepUp = p.StepUp
			if e.StepUp == nil {
				e.StepUp = &StepUp{}
			}
			if e.StepUp.Factors == nil {
				e.StepUp.Factors = []string{}
			}
		}
	} else if res.StatusCode >= 500 {
		e.Code, e.Detail = CodeUnavailable, "HTTP "+strconv.Itoa(res.StatusCode)+" without a problem body"
	} else {
		e.Code, e.Detail = CodeInternal, "HTTP "+strconv.Itoa(res.StatusCode)+" without a problem body"
	}
	e.Detail = op.Method + " " + op.Path + ": " + e.Detail
	return e
}
