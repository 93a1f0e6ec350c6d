package httpapi_test

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/secrets"
)

// SECURITY row 21: sessiond works against a TLS-only Redis with a private
// CA, as an ACL user limited to keys ~sd:* and channels &sd:* without
// @dangerous (so KEYS, FLUSHALL, CONFIG, ... would be refused). scripts/test
// starts that Redis (scripts/redis-tls-acl.sh) and sets the variables.
func TestTLSRedisWithRestrictedACL(t *testing.T) {
	url, ca := os.Getenv("SESSIOND_TEST_REDIS_TLS_URL"), os.Getenv("SESSIOND_TEST_REDIS_CA")
	if url == "" || ca == "" {
		t.Skip("needs the TLS + ACL Redis that scripts/test starts (SESSIOND_TEST_REDIS_TLS_URL, SESSIOND_TEST_REDIS_CA)")
	}
	if !strings.HasPrefix(url, "rediss://") {
		t.Fatalf("SESSIOND_TEST_REDIS_TLS_URL must be rediss://")
	}
	e := newEnv(t, envOptions{RedisURL: url, RedisCA: ca, Prefix: "sd:tls" + secrets.Encode(secrets.Random(5))})
	a := e.createTenant("Acme")
	e.putPolicy(a.APIKey, func(p map[string]any) { p["max_sessions_per_user"] = 2 })

	var ds []issued
	for range 3 {
		ds = append(ds, e.createSession(a.APIKey, map[string]any{"user_id": "alice"}))
		e.clock.Advance(time.Second)
	}
	if len(ds[2].Evicted) != 1 || ds[2].Evicted[0] != ds[0].Session.ID {
		t.Fatalf("eviction over TLS: %+v", ds[2].Evicted)
	}
	if r := e.verify(a.APIKey, ds[2].Token, nil); r.Status != http.StatusOK {
		t.Fatalf("verify over TLS: %d %s", r.Status, r.Body)
	}
	r := e.do(req{method: "POST", path: "/v1/sessions/regenerate", token: a.APIKey, body: map[string]any{"token": ds[1].Token, "reauthenticated": true}})
	if r.Status != http.StatusOK {
		t.Fatalf("regenerate over TLS: %d %s", r.Status, r.Body)
	}
	for _, path := range []string{"/v1/sessions", "/v1/users/alice/sessions", "/v1/sessions?user_id=alice"} {
		if r := e.do(req{method: "GET", path: path, token: a.APIKey}); r.Status != http.StatusOK {
			t.Fatalf("GET %s over TLS: %d %s", path, r.Status, r.Body)
		}
	}
	if r := e.do(req{method: "DELETE", path: "/v1/users/alice/sessions?except=" + ds[2].Session.ID, token: a.APIKey}); r.Status != http.StatusOK {
		t.Fatalf("log out other devices over TLS: %d %s", r.Status, r.Body)
	}
	// Tenant changes travel over pub/sub on the same restricted connection.
	two := e.sibling()
	k := e.createAPIKey(a.APIKey, "x", "admin")
	eventually(t, time.Second, "the sibling instance learns of the new key over TLS pub/sub", func() bool {
		return two.do(req{method: "GET", path: "/v1/policy", token: k.Secret}).Status == http.StatusOK
	})
	if r := e.do(req{method: "GET", path: "/readyz"}); r.Status != http.StatusOK {
		t.Fatalf("readyz over TLS: %d", r.Status)
	}
	if strings.Contains(e.logs.String(), "NOPERM") {
		t.Fatalf("a command was refused by the ACL:\n%s", e.logs.String())
	}
}

// Nothing in sessiond's own code may use KEYS or SCAN: no request may do
// work proportional to the whole keyspace. Go files that use go-redis and
// every Lua script are checked; tests may scan.
func TestNoKeyspaceScansInProductionCode(t *testing.T) {
	goCall := regexp.MustCompile(`\.(Keys|Scan|ScanType)\(ctx`)
	luaCall := regexp.MustCompile(`(?i)redis\.p?call\(\s*['"](KEYS|SCAN)['"]`)
	checked := 0
	err := filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") {
			return filepath.SkipDir // third-party packages the client suites install
		}
		if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.go") || strings.Contains(path, "/testkit/") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var re *regexp.Regexp
		switch {
		case strings.HasSuffix(path, ".lua"):
			re = luaCall
		case strings.HasSuffix(path, ".go") && strings.Contains(string(b), `"github.com/redis/go-redis/v9"`):
			re = goCall
		default:
			return nil
		}
		checked++
		if loc := re.FindIndex(b); loc != nil {
			t.Errorf("%s uses %q", path, b[loc[0]:loc[1]])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("checked only %d files that talk to Redis", checked)
	}
}
