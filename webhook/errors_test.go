package webhook_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/spellcoven/gateway/webhook"
)

func TestReason(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{name: "nil", err: nil, want: ""},
		{name: "missing headers", err: webhook.ErrMissingHeaders, want: "missing_headers"},
		{name: "malformed timestamp", err: webhook.ErrMalformedTimestamp, want: "malformed"},
		{name: "malformed signature", err: webhook.ErrMalformedSignature, want: "malformed"},
		{name: "malformed id", err: webhook.ErrMalformedID, want: "malformed"},
		{name: "too old", err: webhook.ErrTimestampTooOld, want: "stale"},
		{name: "too new", err: webhook.ErrTimestampTooNew, want: "future"},
		{name: "no match", err: webhook.ErrNoMatchingSignature, want: "mismatch"},
		{name: "wrapped with detail", err: fmt.Errorf("%w: 75s in the past", webhook.ErrTimestampTooOld), want: "stale"},
		{name: "wrapped twice", err: fmt.Errorf("coven_hmac: %w", fmt.Errorf("%w: header", webhook.ErrMissingHeaders)), want: "missing_headers"},
		{name: "unrelated error", err: io.EOF, want: "unknown"},
		{name: "look-alike text", err: errors.New("webhook: no matching signature"), want: "unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := webhook.Reason(tc.err); got != tc.want {
				t.Fatalf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}
