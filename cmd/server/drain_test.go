package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testkit"
	"github.com/sessiond/sessiond/internal/testkit/balancer"
)

// serveEnvKeys are the variables of testEnv that a sessiond process gets.
var serveEnvKeys = []string{"SESSIOND_ADDR", "DATABASE_URL", "REDIS_URL", "SESSIOND_REDIS_PREFIX",
	"SESSIOND_OPERATOR_TOKEN", "SESSIOND_MASTER_KEY", "SESSIOND_DRAIN_DELAY",
	"SESSIOND_CEILING_REQUESTS_PER_SECOND"}

// processEnv is getenv's serveEnvKeys as a process environment.
func processEnv(getenv func(string) string) []string {
	var env []string
	for _, k := range serveEnvKeys {
		if v := getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// buildStatic builds the binary as the Dockerfile does, once per test.
func buildStatic(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sessiond")
	if out, err := execCommand(t, "../../scripts/build-static.sh", bin).CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// process is a `sessiond serve` running as its own process.
type process struct {
	cmd  *exec.Cmd
	url  string
	logs *testkit.Buffer // its stderr: the JSON log
	done chan struct{}   // closed when it has exited; err is then its result
	err  error
}

// startProcess starts `bin serve` with getenv's configuration and returns
// once it listens; it is killed, if still running, when the test ends.
func startProcess(t *testing.T, bin string, getenv func(string) string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, "serve"), logs: &testkit.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = processEnv(getenv)
	p.cmd.Stderr = p.logs
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			p.url = m[1]
			break
		}
	}
	go func() {
		_, _ = io.Copy(io.Discard, stdout)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	if p.url == "" {
		<-p.done
		t.Fatalf("sessiond did not start: %v\n%s", p.err, p.logs)
	}
	return p
}

// healthEvery is how often the test load balancer checks /readyz.
const healthEvery = 100 * time.Millisecond

// startBalancer serves a balancer over urls, checking /readyz every
// healthEvery, until the test ends; it returns once every upstream is ready.
func startBalancer(t *testing.T, urls ...string) (*balancer.Balancer, *httptest.Server) {
	t.Helper()
	lb, err := balancer.New(urls, healthEvery)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { lb.Run(ctx); close(done) }()
	srv := httptest.NewServer(lb)
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	waitFor(t, 10*time.Second, "the upstreams to be ready", func() bool {
		for i := range urls {
			if !lb.Ready(i) {
				return false
			}
		}
		return true
	})
	return lb, srv
}

// load is clients that verify sessions through a URL in a loop, each on its
// own kept-alive connection, counting successes and failures.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	firstErrs  []string
	stop       chan struct{}
	stopOnce   sync.Once
	wg         sync.WaitGroup
}

// startLoad starts one client per token, each verifying its token in a
// loop until stopLoad or the deadline, whichever comes first.
func startLoad(baseURL, apiKey string, tokens []string, deadline time.Time) *load {
	l := &load{stop: make(chan struct{})}
	for _, tok := range tokens {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			body := `{"token":"` + tok + `"}`
			for time.Now().Before(deadline) {
				select {
				case <-l.stop:
					return
				default:
				}
				l.verify(client, baseURL, apiKey, body)
			}
		}()
	}
	return l
}

func (l *load) verify(client *http.Client, baseURL, apiKey, body string) {
	req, _ := http.NewRequest("POST", baseURL+"/v1/sessions/verify", strings.NewReader(body))
	req.GetBody = nil // not replayable: net/http must not retry it on its own
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			l.ok.Add(1)
			return
		}
		err = fmt.Errorf("status %d", res.StatusCode)
	}
	l.failed.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.firstErrs) < 10 {
		l.firstErrs = append(l.firstErrs, err.Error())
	}
}

// stopLoad stops the clients and waits for them; it may be called again.
func (l *load) stopLoad() {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// waitFor waits until cond holds, failing the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(limit); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSIGTERMBehindALoadBalancerFailsNoRequest runs two sessiond processes
// on one PostgreSQL schema and Redis prefix behind a load balancer that
// health-checks /readyz and never retries, drives 20 kept-alive clients
// through it, and sends SIGTERM to one instance mid-run. Not one request
// may fail, and the terminated process must exit 0 after its drain. Without
// the drain (SESSIOND_DRAIN_DELAY=0, or the drain code removed), the load
// balancer keeps routing to the instance for up to one health-check
// interval after it stopped accepting, and races requests on the kept-alive
// connections Shutdown closes: those requests fail.
func TestSIGTERMBehindALoadBalancerFailsNoRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary and runs two sessiond processes under load")
	}
	bin := buildStatic(t)
	getenv := testEnv(t, map[string]string{"SESSIOND_DRAIN_DELAY": "1s",
		// The load is the test's own; no tenant rate limit may refuse it.
		"SESSIOND_CEILING_REQUESTS_PER_SECOND": "10000000"})
	stays := startProcess(t, bin, getenv)
	leaves := startProcess(t, bin, getenv)
	lb, front := startBalancer(t, stays.url, leaves.url)

	apiKey := createTenantKey(t, stays.url, getenv("SESSIOND_OPERATOR_TOKEN"))
	for _, p := range []*process{stays, leaves} {
		waitFor(t, 10*time.Second, "the new tenant to reach "+p.url, func() bool { return knowsKey(p.url, apiKey) })
	}
	tokens := make([]string, 20)
	for i := range tokens {
		tokens[i] = createSession(t, front.URL, apiKey, fmt.Sprintf("user-%d", i))
	}

	l := startLoad(front.URL, apiKey, tokens, time.Now().Add(60*time.Second))
	t.Cleanup(l.stopLoad)
	waitFor(t, 20*time.Second, "both instances to serve", func() bool {
		return lb.Served(0) > 200 && lb.Served(1) > 200
	})
	okBefore := l.ok.Load()
	if err := leaves.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-leaves.done:
	case <-time.After(time.Minute):
		t.Fatalf("no exit a minute after SIGTERM:\n%s", leaves.logs)
	}
	okAtExit := l.ok.Load()
	// The instance that stays goes on serving everything.
	waitFor(t, 20*time.Second, "requests after the exit", func() bool { return l.ok.Load() > okAtExit+200 })
	l.stopLoad()

	t.Logf("ok=%d (before SIGTERM %d, SIGTERM to exit %d, after %d) failed=%d; served by the instance that stayed %d, by the one that left %d",
		l.ok.Load(), okBefore, okAtExit-okBefore, l.ok.Load()-okAtExit, l.failed.Load(),
		lb.Served(0), lb.Served(1))
	if n := l.failed.Load(); n > 0 {
		t.Errorf("%d requests failed across the SIGTERM; first: %q; load balancer: %q", n, l.firstErrs, lb.Errors())
	}
	if leaves.err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", leaves.err, leaves.logs)
	}
	logs := leaves.logs.String()
	phases := []string{`"msg":"draining: /readyz answers 503`, `"msg":"drain delay over"`, `"msg":"shutting down: `, `"msg":"stopped"`}
	at := 0
	for _, p := range phases {
		i := strings.Index(logs[at:], p)
		if i < 0 {
			t.Fatalf("the log lacks %s after the previous phase:\n%s", p, logs)
		}
		at += i
	}
}

// createTenantKey creates a tenant through url and returns its API key.
func createTenantKey(t *testing.T, base, operatorToken string) string {
	t.Helper()
	var out struct {
		APIKey struct {
			Secret string `json:"secret"`
		} `json:"api_key"`
	}
	postJSON(t, base+"/v1/tenants", operatorToken, `{"name":"drain"}`, http.StatusCreated, &out)
	return out.APIKey.Secret
}

// knowsKey reports whether the instance at base accepts apiKey (its tenant
// cache has the tenant: a new tenant reaches other instances by pub/sub).
func knowsKey(base, apiKey string) bool {
	req, _ := http.NewRequest("GET", base+"/v1/policy", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// createSession creates a session for user through url and returns its token.
func createSession(t *testing.T, base, apiKey, user string) string {
	t.Helper()
	var out struct {
		Token string `json:"token"`
	}
	postJSON(t, base+"/v1/sessions", apiKey, `{"user_id":"`+user+`"}`, http.StatusCreated, &out)
	return out.Token
}

func postJSON(t *testing.T, u, bearer, body string, want int, out any) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("POST %s: %d %s", u, res.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}

// TestDrainServesEveryRequestWithConnectionClose: from the moment serve's
// context ends (SIGTERM) until the drain delay is over, /readyz answers 503
// and /healthz and the API answer as usual, each response saying
// "Connection: close" so the client moves its next request to a new
// connection (elsewhere, behind a load balancer) instead of racing the
// shutdown's close of a kept-alive one.
func TestDrainServesEveryRequestWithConnectionClose(t *testing.T) {
	getenv := testEnv(t, map[string]string{"SESSIOND_DRAIN_DELAY": "2s"})
	s := startServe(t, nil, getenv)
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path, bearer string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", s.url+path, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s during the drain: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res
	}
	if res := get("/healthz", ""); res.Close {
		t.Fatal("Connection: close before the drain")
	}
	s.cancel() // what SIGTERM does
	waitFor(t, 5*time.Second, "/readyz to fail", func() bool {
		return get("/readyz", "").StatusCode == http.StatusServiceUnavailable
	})
	for _, c := range []struct{ path, bearer string }{{"/healthz", ""}, {"/v1/tenants", getenv("SESSIOND_OPERATOR_TOKEN")}} {
		res := get(c.path, c.bearer)
		// res.Close is the response's "Connection: close" (net/http takes
		// the header out of res.Header).
		if res.StatusCode != http.StatusOK || !res.Close {
			t.Errorf("GET %s during the drain: %d, Connection: close %v", c.path, res.StatusCode, res.Close)
		}
	}
	if err := s.stop(); err != nil {
		t.Fatalf("after the drain: %v", err)
	}
}

// TestSecondSignalEndsTheDrainEarly: a second SIGTERM during a long drain
// delay skips the rest of it; the process then shuts down and exits 0.
func TestSecondSignalEndsTheDrainEarly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	p := startProcess(t, buildStatic(t), testEnv(t, map[string]string{"SESSIOND_DRAIN_DELAY": "10m"}))
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the drain to start", func() bool {
		return strings.Contains(p.logs.String(), `"msg":"draining: /readyz answers 503`)
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatalf("a second SIGTERM did not end a 10-minute drain:\n%s", p.logs)
	}
	if p.err != nil || !strings.Contains(p.logs.String(), `"msg":"draining: second signal`) {
		t.Fatalf("exit %v\n%s", p.err, p.logs)
	}
}

// TestGoRedisMessagesJoinTheJSONLog: serve installs the go-redis logger
// adapter, so go-redis's own complaint when it cannot dial Redis is a JSON
// warning in sessiond's log, and every line of that log stays JSON.
func TestGoRedisMessagesJoinTheJSONLog(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	var stderr testkit.Buffer
	err = run(t.Context(), []string{"serve"}, testEnv(t, map[string]string{"REDIS_URL": "redis://" + closed + "/0"}), io.Discard, &stderr)
	if err == nil {
		t.Fatal("serve started without Redis")
	}
	found := false
	for _, line := range strings.Split(stderr.String(), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a log line that is not JSON: %q", line)
		}
		d, _ := rec["detail"].(string)
		found = found || (rec["level"] == "WARN" && rec["msg"] == "redis client" && strings.Contains(d, "failed to dial"))
	}
	if !found {
		t.Fatalf("go-redis's dial failure is not in the JSON log:\n%s", stderr.String())
	}
}
