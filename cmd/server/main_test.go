package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/secrets"
	"github.com/sessiond/sessiond/internal/testkit"
)

// testEnv returns a getenv for a sessiond on a private schema and prefix.
func testEnv(t *testing.T, extra map[string]string) func(string) string {
	t.Helper()
	env := map[string]string{
		"SESSIOND_ADDR":           "127.0.0.1:0",
		"DATABASE_URL":            pgtest.NewURL(t),
		"REDIS_URL":               testkit.RedisURL(),
		"SESSIOND_REDIS_PREFIX":   testkit.Prefix(t, testkit.Redis(t)),
		"SESSIOND_OPERATOR_TOKEN": "op_" + secrets.Encode(secrets.Random(32)),
		"SESSIOND_MASTER_KEY":     base64.StdEncoding.EncodeToString(secrets.Random(32)),
		"SESSIOND_DRAIN_DELAY":    "100ms", // the drain runs, briefly
	}
	for k, v := range extra {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	return func(k string) string { return env[k] }
}

var listening = regexp.MustCompile(`listening on (https?://\S+)`)

// served is a `sessiond serve` running in-process.
type served struct {
	url    string
	stdout *testkit.Buffer
	stderr *testkit.Buffer // the JSON logs
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// stop does what SIGTERM does (through signal.NotifyContext) and returns
// run's result. It may be called more than once.
func (s *served) stop() error {
	s.cancel()
	<-s.done
	return s.err
}

// startServe runs `sessiond serve` in-process until the test ends.
func startServe(t *testing.T, args []string, getenv func(string) string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &served{stdout: &testkit.Buffer{}, stderr: &testkit.Buffer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		s.err = run(ctx, append([]string{"serve"}, args...), getenv, io.MultiWriter(pw, s.stdout), s.stderr)
		_ = pw.CloseWithError(errors.New("exited"))
		close(s.done)
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			go func() { _, _ = io.Copy(io.Discard, pr) }()
			t.Cleanup(func() { _ = s.stop() })
			s.url = m[1]
			return s
		}
	}
	t.Fatalf("sessiond did not start: %v", s.stop())
	return nil
}

func TestStartupRefusesMissingOrWeakSecretsAndSaysHowToFixThem(t *testing.T) {
	for name, extra := range map[string]map[string]string{
		"no operator token":    {"SESSIOND_OPERATOR_TOKEN": ""},
		"a short token":        {"SESSIOND_OPERATOR_TOKEN": "short"},
		"no master key":        {"SESSIOND_MASTER_KEY": ""},
		"a 16-byte master key": {"SESSIOND_MASTER_KEY": base64.StdEncoding.EncodeToString(make([]byte, 16))},
	} {
		t.Run(name, func(t *testing.T) {
			err := run(t.Context(), []string{"serve"}, testEnv(t, extra), io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), "sessiond keygen") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestSecretsMayComeFromFiles(t *testing.T) {
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	const fileToken = "op_q4m7vzk2xnp3lrw6ahty5dj2bcf7euogsi4k6qvx3zmh5wnp2ary" // strong enough for Validate
	if err := os.WriteFile(tokFile, []byte(fileToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, nil, testEnv(t, map[string]string{"SESSIOND_OPERATOR_TOKEN": "", "SESSIOND_OPERATOR_TOKEN_FILE": tokFile}))
	req, _ := http.NewRequest("GET", s.url+"/v1/tenants", nil)
	req.Header.Set("Authorization", "Bearer "+fileToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("token from file: %d", res.StatusCode)
	}
}

func TestDevModeNeedsNothingAndKeepsItsKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	getenv := testEnv(t, map[string]string{"SESSIOND_OPERATOR_TOKEN": "", "SESSIOND_MASTER_KEY": "", "SESSIOND_DATA_DIR": dir})
	s := startServe(t, []string{"--dev"}, getenv)
	key := regexp.MustCompile(`Demo API key:\s+(sk_\S+)`)
	var first string
	for i := 0; i < 100 && first == ""; i++ {
		if m := key.FindStringSubmatch(s.stdout.String()); m != nil {
			first = m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	if first == "" {
		t.Fatalf("no demo API key printed:\n%s", s.stdout)
	}
	req, _ := http.NewRequest("GET", s.url+"/v1/policy", nil)
	req.Header.Set("Authorization", "Bearer "+first)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("demo key: %v %v", res, err)
	}
	res.Body.Close()
	for _, f := range []string{"operator_token", "master_key", "demo_tenant.json"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, st, err)
		}
	}
	if err := s.stop(); err != nil {
		t.Fatalf("dev shutdown: %v", err)
	}

	again := startServe(t, []string{"--dev"}, getenv)
	for i := 0; i < 100 && !strings.Contains(again.stdout.String(), first); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(again.stdout.String(), first) {
		t.Fatalf("a restart made a new demo key:\n%s", again.stdout)
	}
}

// TestShutdownUnderLoadFailsNoRequest stops the server (as SIGTERM does)
// while 8 clients hammer it. Every request the server began handling must
// reach its client as a 200: the server's access log and the clients' count
// of successes must agree, and no other error may occur. Connections the
// kernel had queued but the server never accepted are reset when the
// listener closes; those requests were never in flight and are not counted.
func TestShutdownUnderLoadFailsNoRequest(t *testing.T) {
	getenv := testEnv(t, nil)
	s := startServe(t, nil, getenv)
	token := getenv("SESSIOND_OPERATOR_TOKEN")

	var ok, notAccepted atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", s.url+"/v1/tenants", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				res, err := client.Do(req)
				if err != nil {
					notAccepted.Add(1) // refused, or reset before the server accepted it
					time.Sleep(time.Millisecond)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					t.Errorf("status %d during shutdown", res.StatusCode)
				}
				ok.Add(1)
			}
		}()
	}
	for ok.Load() < 200 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	close(stop)
	wg.Wait()
	handled := int64(strings.Count(s.stderr.String(), `"msg":"request","request_id"`))
	t.Logf("handled by the server=%d received ok=%d not accepted=%d", handled, ok.Load(), notAccepted.Load())
	if handled != ok.Load() {
		t.Fatalf("the server handled %d requests but clients received %d: %d were lost in the shutdown", handled, ok.Load(), handled-ok.Load())
	}
}

// TestDockerfileBinary builds the binary exactly as the Dockerfile does
// (scripts/build-static.sh holds the shared flags), checks it is static, and
// runs it against the real services: serve, healthcheck, a tenant, SIGTERM.
func TestDockerfileBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "sessiond")
	build := execCommand(t, "../../scripts/build-static.sh", bin)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	assertStatic(t, bin)

	getenv := testEnv(t, nil)
	cmd := execCommand(t, bin, "serve")
	cmd.Env = processEnv(getenv)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	var url string
	for sc.Scan() {
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
			t.Logf("static binary: %s", sc.Text())
			break
		}
	}
	if url == "" {
		t.Fatal("the static binary did not start")
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()

	hc := execCommand(t, bin, "healthcheck")
	hc.Env = []string{"SESSIOND_ADDR=" + strings.TrimPrefix(url, "http://")}
	if out, err := hc.CombinedOutput(); err != nil {
		t.Fatalf("healthcheck: %v %s", err, out)
	}
	req, _ := http.NewRequest("POST", url+"/v1/tenants", strings.NewReader(`{"name":"docker"}`))
	req.Header.Set("Authorization", "Bearer "+getenv("SESSIOND_OPERATOR_TOKEN"))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("create tenant via the static binary: %v %v", res, err)
	}
	res.Body.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if v, err := execCommand(t, bin, "version").Output(); err != nil || !strings.HasPrefix(string(v), "sessiond ") {
		t.Fatalf("version: %q %v", v, err)
	}
}
