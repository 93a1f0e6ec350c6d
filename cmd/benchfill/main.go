// Command benchfill is the HTTP client half of scripts/bench: it fills a
// sessiond tenant with sessions through the public API at high concurrency and
// measures request latency one request at a time. It uses only the REST API
// (and the standard library), so the same binary measures any sessiond build,
// whatever its engine looks like inside.
//
//	benchfill freeport
//	benchfill create  -url U -key K -n N [-c 64] [-per-user 2] [-data] [-prefix P] [-tokens F] [-sample M] [-users F]
//	benchfill create  -express -url U -n N ...
//	benchfill latency -url U -key K -tokens F [-n 2000] [-prefix P]
//	benchfill load         -url U -key K -mode create|forge -n N -duration D [-rate R] [-c C] ...
//	benchfill probe-data   -url U -key K -max BYTES
//	benchfill revoke-user  -url U -key K -user ID [-delay D]
//	benchfill count-events -url U -key K [-type T] [-prefix P] [-marker ID]
//	benchfill policy       -url U -key K [-set N=JSON,...] [-max N=CEILING,...] [-zero N,...]
//	benchfill balance -upstream U -upstream U... [-listen A] [-every 100ms]
//
// create makes N sessions, -per-user of them (devices) for each user
// "<prefix>-<i>", each with a 118-character user agent and an IP (and, with
// -data, a 45-byte JSON object). It writes tokens to -tokens (all of them, or
// an even sample of -sample), and with -users one line "<user> <session id>"
// per user naming a session to keep (for "log out other devices"). With
// -express it logs in to scripts/bench.d/express/server.mjs instead (POST
// /login, same body) and writes the sid cookies' values as the tokens.
//
// latency times -n verifies of tokens picked at random from -tokens, then -n
// creates (new users, same device info and data as create -data), one request
// at a time, and prints p50 and p99 of each; it then deletes the sessions it
// created, so the tenant's size is what it was.
//
// load, probe-data, revoke-user, count-events and policy are the noisy
// tenant's side of scripts/bench --noisy (noisy.go); they print one line of
// shell assignments and only talk to loopback addresses. create waits out
// 429 answers (Retry-After), so fills complete under a tenant rate limit.
// balance is the load balancer of the drain scenario (scripts/bench.d/drain):
// internal/testkit/balancer, which also uses only the standard library.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// UserAgent is the device's user agent on every session the benchmark makes:
// a real-looking browser string of exactly 118 characters.
const UserAgent = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778 Safari/537.36"

// Data is the session data of filled sessions: a 45-byte JSON object.
const Data = `{"cart":1234,"locale":"en-GB","theme":"dark"}`

func main() {
	if len(UserAgent) != 118 || len(Data) != 45 {
		fail(fmt.Errorf("user agent is %d characters, data %d bytes; want 118 and 45", len(UserAgent), len(Data)))
	}
	if len(os.Args) < 2 {
		fail(errors.New("usage: benchfill freeport | create | latency | load | probe-data | revoke-user | count-events | policy ..."))
	}
	var err error
	switch os.Args[1] {
	case "freeport":
		err = freePort()
	case "create":
		err = create(os.Args[2:])
	case "latency":
		err = latency(os.Args[2:])
	case "load":
		err = loadCmd(os.Args[2:])
	case "probe-data":
		err = probeDataCmd(os.Args[2:])
	case "revoke-user":
		err = revokeUserCmd(os.Args[2:])
	case "count-events":
		err = countEventsCmd(os.Args[2:])
	case "policy":
		err = policyCmd(os.Args[2:])
	case "balance":
		err = balance(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchfill:", err)
	os.Exit(1)
}

// freePort prints a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	return nil
}

// client calls one tenant's API with its key.
type client struct {
	base, key string
	http      *http.Client
}

func newClient(base, key string, conns int) *client {
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
	}
	return &client{base: strings.TrimRight(base, "/"), key: key, http: &http.Client{Transport: tr, Timeout: time.Minute}}
}

// do sends a JSON request and decodes a 2xx JSON answer into out (if not nil).
func (c *client) do(method, path string, body []byte, out any) error {
	_, err := c.send(method, path, body, out)
	return err
}

// send is do that also returns the response's headers.
func (c *client) send(method, path string, body []byte, out any) (http.Header, error) {
	_, h, err := c.exchange(method, path, body, out)
	return h, err
}

// exchange is send that also returns the response's status (0 when there
// was no response).
func (c *client) exchange(method, path string, body []byte, out any) (int, http.Header, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, resp.Header, &statusError{method: method, path: path, status: resp.StatusCode,
			retryAfter: resp.Header.Get("Retry-After"), body: string(bytes.TrimSpace(raw))}
	}
	if out != nil {
		return resp.StatusCode, resp.Header, json.Unmarshal(raw, out)
	}
	return resp.StatusCode, resp.Header, nil
}

// statusError is a non-2xx answer.
type statusError struct {
	method, path, retryAfter, body string
	status                         int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.path, e.status, e.body)
}

// statusOf is the HTTP status of a non-2xx answer, 0 for any other error.
func statusOf(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.status
	}
	return 0
}

// doPatient is do that waits out 429 answers (a rate limit on the tenant):
// it sleeps for Retry-After (1 s when absent, at most 10 s) and retries, at
// most 30 times, so a fill completes under any rate limit it can live with.
func (c *client) doPatient(method, path string, body []byte, out any) error {
	for attempt := 0; ; attempt++ {
		err := c.do(method, path, body, out)
		var se *statusError
		if attempt >= 30 || !errors.As(err, &se) || se.status != http.StatusTooManyRequests {
			return err
		}
		wait := time.Second
		if s, perr := strconv.Atoi(se.retryAfter); perr == nil && s > 0 {
			wait = time.Duration(min(s, 10)) * time.Second
		}
		time.Sleep(wait)
	}
}

// expressLogin logs in to the Express comparison app and returns its sid cookie's value.
func (c *client) expressLogin(body []byte) (string, error) {
	h, err := c.send(http.MethodPost, "/login", body, nil)
	if err != nil {
		return "", err
	}
	for _, ck := range (&http.Response{Header: h}).Cookies() {
		if ck.Name == "sid" {
			return ck.Value, nil
		}
	}
	return "", errors.New("POST /login: no sid cookie")
}

type issued struct {
	Token   string `json:"token"`
	Session struct {
		ID string `json:"id"`
	} `json:"session"`
}

// createBody is a login of user with the benchmark's device info; i varies the IP.
func createBody(user string, i int64, withData bool) []byte {
	data := ""
	if withData {
		data = `"data":` + Data + `,`
	}
	return fmt.Appendf(nil, `{"user_id":%q,%s"device":{"user_agent":%q,"ip":"10.%d.%d.%d"}}`,
		user, data, UserAgent, (i>>16)&255, (i>>8)&255, i&255)
}

func create(args []string) error {
	fs := flag.NewFlagSet("create", flag.ExitOnError)
	base := fs.String("url", "", "sessiond base URL")
	key := fs.String("key", "", "tenant API key (sessions scope)")
	n := fs.Int64("n", 1000, "sessions to create")
	conc := fs.Int("c", 64, "concurrent requests")
	perUser := fs.Int64("per-user", 2, "sessions (devices) per user")
	withData := fs.Bool("data", false, "give each session a 45-byte JSON data object")
	prefix := fs.String("prefix", "u", "user id prefix")
	tokensFile := fs.String("tokens", "", "write tokens here, one a line")
	sample := fs.Int64("sample", 0, "write only this many tokens, evenly spread (0: all)")
	usersFile := fs.String("users", "", `write "<user> <session id to keep>" here, one user a line`)
	express := fs.Bool("express", false, "log in to the Express comparison app instead of sessiond")
	_ = fs.Parse(args)
	if *base == "" || (*key == "" && !*express) || *n < 1 || *perUser < 1 {
		return errors.New("create: -url, -key (not with -express) and -n ≥ 1 are required")
	}
	c := newClient(*base, *key, *conc)

	every := int64(1)
	if *sample > 0 && *sample < *n {
		every = *n / *sample
	}
	var mu sync.Mutex
	var tokens, users []string
	var next, failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	start := time.Now()
	var wg sync.WaitGroup
	for range *conc {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= *n {
					return
				}
				user := fmt.Sprintf("%s-%d", *prefix, i / *perUser)
				var out issued
				var err error
				if *express {
					out.Token, err = c.expressLogin(createBody(user, i, *withData))
				} else {
					err = c.doPatient(http.MethodPost, "/v1/sessions", createBody(user, i, *withData), &out)
				}
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
					continue
				}
				keepTok := *tokensFile != "" && i%every == 0
				keepUser := *usersFile != "" && i%*perUser == 0
				if keepTok || keepUser {
					mu.Lock()
					if keepTok {
						tokens = append(tokens, out.Token)
					}
					if keepUser {
						users = append(users, user+" "+out.Session.ID)
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d of %d creates failed; first: %w", f, *n, firstErr)
	}
	rand.Shuffle(len(tokens), func(i, j int) { tokens[i], tokens[j] = tokens[j], tokens[i] })
	if err := writeLines(*tokensFile, tokens); err != nil {
		return err
	}
	if err := writeLines(*usersFile, users); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "benchfill: created %d sessions in %.1f s (%.0f/s)\n", *n, took.Seconds(), float64(*n)/took.Seconds())
	return nil
}

func writeLines(path string, lines []string) error {
	if path == "" {
		return nil
	}
	return os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if l := strings.TrimSpace(s.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines, s.Err()
}

func latency(args []string) error {
	fs := flag.NewFlagSet("latency", flag.ExitOnError)
	base := fs.String("url", "", "sessiond base URL")
	key := fs.String("key", "", "tenant API key (sessions scope)")
	tokensFile := fs.String("tokens", "", "tokens to verify, one a line")
	n := fs.Int("n", 2000, "requests of each kind")
	prefix := fs.String("prefix", "lat", "user id prefix of the sessions created")
	_ = fs.Parse(args)
	tokens, err := readLines(*tokensFile)
	if err != nil {
		return err
	}
	if len(tokens) == 0 || *n < 1 {
		return errors.New("latency: need -tokens with at least one token and -n ≥ 1")
	}
	c := newClient(*base, *key, 8)

	// A few untimed requests open the connection and warm caches.
	for i := range 20 {
		if err := c.do(http.MethodPost, "/v1/sessions/verify", verifyBody(tokens[i%len(tokens)]), nil); err != nil {
			return err
		}
	}
	verify := make([]time.Duration, 0, *n)
	for range *n {
		body := verifyBody(tokens[rand.IntN(len(tokens))])
		t := time.Now()
		if err := c.do(http.MethodPost, "/v1/sessions/verify", body, nil); err != nil {
			return err
		}
		verify = append(verify, time.Since(t))
	}
	creates := make([]time.Duration, 0, *n)
	ids := make([]string, 0, *n)
	for i := range *n {
		body := createBody(fmt.Sprintf("%s-%d", *prefix, i/2), int64(i), true)
		var out issued
		t := time.Now()
		if err := c.do(http.MethodPost, "/v1/sessions", body, &out); err != nil {
			return err
		}
		creates = append(creates, time.Since(t))
		ids = append(ids, out.Session.ID)
	}
	// Put the tenant back to its size (untimed).
	var wg sync.WaitGroup
	work := make(chan string)
	for range 8 {
		wg.Go(func() {
			for id := range work {
				_ = c.do(http.MethodDelete, "/v1/sessions/"+id, nil, nil)
			}
		})
	}
	for _, id := range ids {
		work <- id
	}
	close(work)
	wg.Wait()

	fmt.Printf("verify_p50_us=%d verify_p99_us=%d create_p50_us=%d create_p99_us=%d\n",
		pct(verify, 50), pct(verify, 99), pct(creates, 50), pct(creates, 99))
	return nil
}

func verifyBody(token string) []byte { return fmt.Appendf(nil, `{"token":%q}`, token) }

// pct is the p-th percentile of ds, in whole microseconds.
func pct(ds []time.Duration, p int) int64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p+99)/100 - 1
	return s[max(i, 0)].Microseconds()
}
