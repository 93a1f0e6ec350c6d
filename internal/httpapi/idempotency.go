package httpapi

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/fault"
)

// Idempotency-Key on the creating POSTs (POST /v1/sessions,
// /v1/sessions/regenerate, /v1/api-keys, /v1/keys/rotate, /v1/tenants;
// POST /v1/sessions/create-batch refuses the header, which it would not
// honour).
//
// A request with the header runs once per key and caller scope (the tenant,
// or the operator) for IdempotencyTTL: a retry with the same key and the
// same request (method, path, body) gets the first success again, status and
// body, with `Idempotent-Replayed: true`; the same key with another request
// is 422 idempotency_key_reused; a retry while the first is still running is
// 409 conflict (Retry-After: 1). Only successes (2xx) are kept: after an
// error the key is free again, so a retry runs the call anew.
//
// The answers hold secrets (session tokens, CSRF tokens, API key secrets).
// Redis never holds one in plain text, nor the client's key: the entry's
// name has SHA-256 of the key, and its body is sealed with AES-256-GCM under
// a key derived from the server's secret (from the master key) and the
// client's Idempotency-Key. Reading Redis alone gives neither the answer nor
// a way to replay it; the caller who sent the key (and holds the API key)
// gets the same token back, which is the point: its first answer was lost.
//
// Redis layout, P the prefix and S the scope ("t:<tenant id>" or "op"):
//
//	P:{idem:S}:k:<sha256 of the key>  string  "p<fingerprint>" while the
//	    first request runs (IdempotencyPending), then "d<fingerprint><json>"
//	    for IdempotencyTTL
//	P:{idem:S}:n:<hour>               counter of keys taken in that hour
//
// The hash tag {idem:S} has two colons, so it never meets a session
// bucket's {T:B} (tenant ids hold no colon). A scope takes at most
// IdempotencyMaxPerHour new keys an hour: beyond that a request with the
// header is 429 rate_limited (without it, it runs as usual), which bounds
// what one tenant can keep in Redis.

// Idempotency configures the Idempotency-Key support. A zero value (no
// Redis) turns it off: the header is then ignored.
type Idempotency struct {
	Redis  redis.UniversalClient
	Prefix string // the deployment's Redis key prefix
	// Secret seals the stored answers (secrets.Derive of the master key).
	Secret []byte
	// MaxPerHour is the keys a scope may take per hour (default
	// IdempotencyMaxPerHour).
	MaxPerHour int
}

const (
	// IdempotencyTTL is how long an answer is kept for replay.
	IdempotencyTTL = 24 * time.Hour
	// IdempotencyPending is how long a key stays taken by a request that
	// has not finished (a crashed instance frees it after this).
	IdempotencyPending = time.Minute
	// IdempotencyMaxPerHour is the default cap of new keys per scope and hour.
	IdempotencyMaxPerHour = 10000
	// maxIdempotencyKey is the longest Idempotency-Key accepted.
	maxIdempotencyKey = 255
	// maxKeptAnswer is the largest body kept for replay; the creating
	// endpoints answer far less.
	maxKeptAnswer = 16 << 10
)

// claimScript takes the key for a request with fingerprint ARGV[1], unless
// it is known: it returns the entry as it stands, "full" when the scope's
// hourly cap is reached, or "new" after marking the key pending.
var claimScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then return v end
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
if n > tonumber(ARGV[3]) then return 'full' end
redis.call('SET', KEYS[1], 'p' .. ARGV[1], 'PX', ARGV[2])
return 'new'
`)

// settleScript replaces the pending mark of ARGV[1] by the answer ARGV[2]
// (kept ARGV[3] ms), or, with no answer, frees the key.
var settleScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= 'p' .. ARGV[1] then return 0 end
if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)

// keptAnswer is a success as stored (its body sealed).
type keptAnswer struct {
	Status int               `json:"s"`
	Header map[string]string `json:"h,omitempty"`
	Body   []byte            `json:"b"` // nonce || AES-GCM ciphertext
}

// keptHeaders are the response headers a replay repeats.
var keptHeaders = []string{"Content-Type", "Cache-Control", "Pragma", "Location", "ETag"}

// idempotent wraps a creating route's handler with Idempotency-Key
// support; the request's body is part of the request's fingerprint.
func (s *server) idempotent(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if len(r.Header.Values("Idempotency-Key")) == 0 || s.Idempotency.Redis == nil {
			return h(w, r)
		}
		return s.runIdempotent(w, r, callOf(r).body, func(w http.ResponseWriter) error { return h(w, r) })
	}
}

// idempotentBody is idempotent for a route with a compiled body check
// (withBody): the decoded request, encoded again, is the fingerprint's body,
// so both ways through the route agree.
func idempotentBody[T any](s *server, h func(w http.ResponseWriter, r *http.Request, req *T) error) func(w http.ResponseWriter, r *http.Request, req *T) error {
	return func(w http.ResponseWriter, r *http.Request, req *T) error {
		if len(r.Header.Values("Idempotency-Key")) == 0 || s.Idempotency.Redis == nil {
			return h(w, r, req)
		}
		body, err := json.Marshal(req)
		if err != nil {
			return fmt.Errorf("idempotency fingerprint: %w", err)
		}
		return s.runIdempotent(w, r, body, func(w http.ResponseWriter) error { return h(w, r, req) })
	}
}

// runIdempotent runs call once per Idempotency-Key (see the top of the file).
func (s *server) runIdempotent(w http.ResponseWriter, r *http.Request, body []byte, call func(http.ResponseWriter) error) error {
	key, err := idempotencyKey(r.Header)
	if err != nil {
		return err
	}
	scope := "op"
	if t := principal(r).TenantID; t != "" {
		scope = "t:" + t
	}
	sum := sha256.Sum256([]byte(key))
	base := s.Idempotency.Prefix + ":{idem:" + scope + "}:"
	entry := base + "k:" + hex.EncodeToString(sum[:])
	hour := s.Now().UTC().Unix() / 3600
	fp := fingerprint(r, body)

	ctx := r.Context()
	limit := s.Idempotency.MaxPerHour
	if limit <= 0 {
		limit = IdempotencyMaxPerHour
	}
	got, err := claimScript.Run(ctx, s.Idempotency.Redis, []string{entry, base + "n:" + strconv.FormatInt(hour, 10)},
		fp, IdempotencyPending.Milliseconds(), limit, (2 * time.Hour).Milliseconds()).Text()
	if err != nil {
		return fault.Wrap(err, fault.Unavailable, "the idempotency store is unavailable")
	}
	switch {
	case got == "full":
		w.Header().Set("Retry-After", strconv.FormatInt(3600-s.Now().UTC().Unix()%3600, 10))
		return fault.New(fault.RateLimited, "too many Idempotency-Keys this hour; retry later or without the header")
	case got == "new":
		// This request runs; below.
	case len(got) < 1+len(fp) || got[1:1+len(fp)] != fp:
		return fault.New(fault.IdempotencyKeyReused, "this Idempotency-Key was used for another request")
	case got[0] == 'p':
		w.Header().Set("Retry-After", "1")
		return fault.New(fault.Conflict, "a request with this Idempotency-Key is still running")
	default:
		return s.replay(w, entry, key, got[1+len(fp):])
	}

	rec := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
	callErr := call(rec)
	kept := ""
	if callErr == nil && rec.status >= 200 && rec.status < 300 && rec.body.Len() <= maxKeptAnswer {
		if kept, err = s.seal(entry, key, rec); err != nil {
			s.Log.Error("idempotency: sealing the answer", slog.String("error", err.Error()))
			kept = ""
		} else {
			kept = "d" + fp + kept
		}
	}
	// A fresh context: the answer is kept (or the key freed) even if the
	// client went away meanwhile.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := settleScript.Run(sctx, s.Idempotency.Redis, []string{entry}, fp, kept, IdempotencyTTL.Milliseconds()).Err(); err != nil {
		s.Log.Warn("idempotency: keeping the answer", slog.String("error", err.Error()))
	}
	if callErr != nil {
		return callErr
	}
	rec.writeTo(w)
	return nil
}

// idempotencyKey returns the request's Idempotency-Key: one header, 1 to
// 255 visible ASCII characters (a UUID is the usual choice).
func idempotencyKey(h http.Header) (string, error) {
	v := h.Values("Idempotency-Key")
	if len(v) != 1 {
		return "", fault.Invalid("header.Idempotency-Key", "give exactly one")
	}
	k := v[0]
	if k == "" || len(k) > maxIdempotencyKey {
		return "", fault.Invalid("header.Idempotency-Key", "must have 1 to %d characters", maxIdempotencyKey)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return "", fault.Invalid("header.Idempotency-Key", "must be visible ASCII characters")
		}
	}
	return k, nil
}

// fingerprint names the request: SHA-256 of method, path and body, in hex.
func fingerprint(r *http.Request, body []byte) string {
	h := sha256.New()
	h.Write([]byte(r.Method + " " + r.URL.Path + "\x00"))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// aead is the cipher of one entry: its key is HMAC-SHA256(secret, entry
// name || client's key), so it needs both the server's secret and the key
// only the client sent.
func (s *server) aead(entry, key string) (cipher.AEAD, error) {
	m := hmac.New(sha256.New, s.Idempotency.Secret)
	m.Write([]byte(entry + "\x00" + key))
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (s *server) seal(entry, key string, rec *bufferedWriter) (string, error) {
	a, err := s.aead(entry, key)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, a.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	k := keptAnswer{Status: rec.status, Header: map[string]string{}, Body: a.Seal(nonce, nonce, rec.body.Bytes(), []byte(entry))}
	for _, name := range keptHeaders {
		if v := rec.header.Get(name); v != "" {
			k.Header[name] = v
		}
	}
	b, err := json.Marshal(k)
	return string(b), err
}

// replay writes a kept answer again.
func (s *server) replay(w http.ResponseWriter, entry, key, kept string) error {
	var k keptAnswer
	if err := json.Unmarshal([]byte(kept), &k); err != nil {
		return fmt.Errorf("idempotency: a kept answer is not JSON: %w", err)
	}
	a, err := s.aead(entry, key)
	if err != nil {
		return err
	}
	if len(k.Body) < a.NonceSize() {
		return errors.New("idempotency: a kept answer is too short")
	}
	body, err := a.Open(nil, k.Body[:a.NonceSize()], k.Body[a.NonceSize():], []byte(entry))
	if err != nil {
		// Sealed under another secret (the master key changed): it cannot be
		// given again, and running the call again would not be "once".
		return fault.Wrap(err, fault.Conflict, "the first answer for this Idempotency-Key can no longer be read; use a new key")
	}
	for name, v := range k.Header {
		w.Header().Set(name, v)
	}
	w.Header().Set("Idempotent-Replayed", "true")
	w.WriteHeader(k.Status)
	_, _ = w.Write(body)
	return nil
}

// bufferedWriter holds a handler's answer until it is kept.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(status int) {
	if !b.wrote {
		b.status, b.wrote = status, true
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}

func (b *bufferedWriter) writeTo(w http.ResponseWriter) {
	for name, v := range b.header {
		w.Header()[name] = v
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}
