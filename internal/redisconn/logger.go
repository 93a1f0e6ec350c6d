package redisconn

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Logger carries go-redis's own messages (connection pool and dial
// failures, cluster slot reloads, pub/sub reconnects) into sessiond's
// structured log: each becomes one record at warn level, message "redis
// client", with go-redis's text in the attribute "detail", so a JSON log
// stays one JSON object a line. Install it with redis.SetLogger; go-redis
// has one logger for the whole process.
type Logger struct {
	log *slog.Logger
}

// NewLogger returns a Logger writing to log.
func NewLogger(log *slog.Logger) *Logger { return &Logger{log: log} }

// Printf logs one go-redis message (it implements go-redis's Logging
// interface). The text is formatted as go-redis asks, without its trailing
// newline; ctx may be nil.
func (l *Logger) Printf(ctx context.Context, format string, v ...any) {
	if ctx == nil {
		ctx = context.Background()
	}
	msg := strings.TrimRight(fmt.Sprintf(format, v...), "\r\n")
	l.log.LogAttrs(ctx, slog.LevelWarn, "redis client", slog.String("detail", msg))
}
