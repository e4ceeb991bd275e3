package webhook_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves goroutines behind (the HTTP and concurrency
// tests start some).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
