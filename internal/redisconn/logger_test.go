package redisconn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/internal/redisconn"
	"github.com/sessiond/sessiond/internal/testkit"
)

// logRecords decodes every line of a JSON log, failing on one that is not
// a JSON object.
func logRecords(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("a log line that is not JSON: %q", line)
		}
		recs = append(recs, rec)
	}
	return recs
}

func TestLoggerWritesGoRedisMessagesAsJSONWarnings(t *testing.T) {
	var buf testkit.Buffer
	l := redisconn.NewLogger(slog.New(slog.NewJSONHandler(&buf, nil)))
	l.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v\n", 2, "refused \"quoted\"")
	//lint:ignore SA1012 go-redis may pass no context
	l.Printf(nil, "cluster: slots %v migrated", []int{1, 2})
	recs := logRecords(t, buf.String())
	if len(recs) != 2 {
		t.Fatalf("%d records: %s", len(recs), buf.String())
	}
	want := `redis: connection pool: failed to dial after 2 attempts: refused "quoted"`
	if recs[0]["level"] != "WARN" || recs[0]["msg"] != "redis client" || recs[0]["detail"] != want {
		t.Fatalf("record %v", recs[0])
	}
	if recs[1]["detail"] != "cluster: slots [1 2] migrated" {
		t.Fatalf("record %v", recs[1])
	}
}

// TestGoRedisOwnMessagesGoThroughTheLogger installs the Logger as
// go-redis's and makes go-redis fail to dial (a closed loopback port): its
// own "failed to dial" message must arrive as a JSON warning, not as a
// plain "redis: ..." line on stderr.
func TestGoRedisOwnMessagesGoThroughTheLogger(t *testing.T) {
	var buf testkit.Buffer
	redis.SetLogger(redisconn.NewLogger(slog.New(slog.NewJSONHandler(&buf, nil))))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	rdb, err := redisconn.Open(redisconn.Options{URL: fmt.Sprintf("redis://%s/0", addr)})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("ping to a closed port succeeded")
	}
	for _, rec := range logRecords(t, buf.String()) {
		if d, _ := rec["detail"].(string); rec["level"] == "WARN" && strings.Contains(d, "failed to dial") && strings.Contains(d, addr) {
			return
		}
	}
	t.Fatalf("go-redis's dial failure did not reach the Logger; it logged: %q", buf.String())
}
