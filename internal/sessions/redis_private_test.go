package sessions_test

import (
	"context"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// privateRedis starts a redis-server of its own on a free loopback port for
// one test, so that the test can read Redis's global statistics (INFO
// commandstats, SLOWLOG) without other tests' traffic in them. It is
// stopped at cleanup. The test is skipped where there is no redis-server.
func privateRedis(t *testing.T) *redis.Client {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("no redis-server to start a private Redis")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--slowlog-log-slower-than", "0", "--slowlog-max-len", "100000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + port})
	t.Cleanup(func() { rdb.Close() })
	for i := 0; rdb.Ping(context.Background()).Err() != nil; i++ {
		if i == 100 {
			t.Fatal("the private Redis did not start")
		}
		time.Sleep(20 * time.Millisecond) // waiting for a process, not for logic
	}
	return rdb
}

// commandCalls returns how many times Redis ran each command so far
// (INFO commandstats; commands a script runs count too), by lower-case name.
func commandCalls(t *testing.T, rdb *redis.Client) map[string]int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.SplitN(rest, ",", 2)[0], 10, 64)
		out[name] = n
	}
	return out
}

// callsDuring returns, per command, how many times Redis ran it during f.
func callsDuring(t *testing.T, rdb *redis.Client, f func()) map[string]int64 {
	t.Helper()
	before := commandCalls(t, rdb)
	f()
	after := commandCalls(t, rdb)
	for k, v := range before {
		after[k] -= v
	}
	after["info"]-- // the reading itself
	return after
}

// slowestScript returns the longest script call (EVALSHA or EVAL) in the
// private Redis's SLOWLOG, which logs every command, and logs each
// script's median and longest call (information: on a loaded machine a
// script may be descheduled while it runs).
func slowestScript(t *testing.T, rdb *redis.Client) time.Duration {
	t.Helper()
	logs, err := rdb.SlowLogGet(context.Background(), -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	by := map[string][]time.Duration{}
	var longest time.Duration
	for _, l := range logs {
		if len(l.Args) > 1 && strings.HasPrefix(strings.ToLower(l.Args[0]), "eval") {
			by[l.Args[1]] = append(by[l.Args[1]], l.Duration)
			longest = max(longest, l.Duration)
		}
	}
	for sha, ds := range by {
		slices.Sort(ds)
		t.Logf("script %.8s: %d calls, median %v, longest %v", sha, len(ds), ds[len(ds)/2], ds[len(ds)-1])
	}
	return longest
}
