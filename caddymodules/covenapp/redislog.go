package covenapp

import (
	"context"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// go-redis reports what it cannot return to a caller (a connection it failed to close, a pub/sub
// connection it replaced) through one process-wide logger, by default the standard log package:
// lines that would land between Caddy's JSON lines. They go through Caddy's logger instead.
func init() {
	redis.SetLogger(redisLogger{logger: func() *zap.Logger { return caddy.Log().Named("redis") }})
}

// redisLogger adapts go-redis's logger to zap. It asks for the logger on each line, so that it follows
// Caddy's logging configuration as it is loaded and reloaded.
type redisLogger struct {
	logger func() *zap.Logger
}

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.logger().Warn(strings.TrimPrefix(strings.TrimSpace(fmt.Sprintf(format, v...)), "redis: "))
}
