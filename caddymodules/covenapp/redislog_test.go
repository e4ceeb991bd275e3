package covenapp

import (
	"context"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestRedisLinesGoThroughZap(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	l := redisLogger{logger: func() *zap.Logger { return zap.New(core) }}
	l.Printf(context.Background(), "redis: failed to close connection: %v\n", "broken pipe")
	all := logs.All()
	if len(all) != 1 || all[0].Level != zap.WarnLevel || all[0].Message != "failed to close connection: broken pipe" {
		t.Fatalf("logged %+v", all)
	}
}
