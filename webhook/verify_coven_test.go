package webhook_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spellcoven/gateway/webhook"
)

// covenSigned returns headers signing body at ts with secret.
func covenSigned(secret string, ts int64, body string) http.Header {
	return header(
		webhook.HeaderCovenTimestamp, strconv.FormatInt(ts, 10),
		webhook.HeaderCovenSignature, webhook.SignCoven([]byte(secret), ts, []byte(body)),
	)
}

func TestVerifyCoven(t *testing.T) {
	const body = `{"epoch":"e1","events":[]}`
	now := testNow.Unix()
	ts := strconv.FormatInt(now, 10)
	goodSig := webhook.SignCoven([]byte(covenSecretA), now, []byte(body))
	hexPart := strings.TrimPrefix(goodSig, "sha256=")

	cases := []struct {
		name   string
		header http.Header
		body   string
		want   error
	}{
		{name: "valid", header: covenSigned(covenSecretA, now, body), body: body},
		{name: "empty body", header: covenSigned(covenSecretA, now, ""), body: ""},
		{name: "60s old is within tolerance", header: covenSigned(covenSecretA, now-60, body), body: body},
		{name: "61s old is stale", header: covenSigned(covenSecretA, now-61, body), body: body, want: webhook.ErrTimestampTooOld},
		{name: "60s ahead is within tolerance", header: covenSigned(covenSecretA, now+60, body), body: body},
		{name: "61s ahead is future", header: covenSigned(covenSecretA, now+61, body), body: body, want: webhook.ErrTimestampTooNew},
		{name: "timestamp zero is stale", header: covenSigned(covenSecretA, 0, body), body: body, want: webhook.ErrTimestampTooOld},
		{name: "largest int64 timestamp is future", header: covenSigned(covenSecretA, 1<<63-1, body), body: body, want: webhook.ErrTimestampTooNew},

		{name: "no headers", header: http.Header{}, body: body, want: webhook.ErrMissingHeaders},
		{name: "missing timestamp", header: header(webhook.HeaderCovenSignature, goodSig), body: body, want: webhook.ErrMissingHeaders},
		{name: "missing signature", header: header(webhook.HeaderCovenTimestamp, ts), body: body, want: webhook.ErrMissingHeaders},
		{name: "empty timestamp counts as missing", header: header(webhook.HeaderCovenTimestamp, "", webhook.HeaderCovenSignature, goodSig), body: body, want: webhook.ErrMissingHeaders},
		{name: "empty signature counts as missing", header: header(webhook.HeaderCovenTimestamp, ts, webhook.HeaderCovenSignature, ""), body: body, want: webhook.ErrMissingHeaders},

		{name: "repeated timestamp", header: header(webhook.HeaderCovenTimestamp, ts, webhook.HeaderCovenTimestamp, ts, webhook.HeaderCovenSignature, goodSig), body: body, want: webhook.ErrMalformedTimestamp},
		{name: "repeated signature", header: header(webhook.HeaderCovenTimestamp, ts, webhook.HeaderCovenSignature, goodSig, webhook.HeaderCovenSignature, goodSig), body: body, want: webhook.ErrMalformedSignature},

		{name: "timestamp not a number", header: header(webhook.HeaderCovenTimestamp, "yesterday", webhook.HeaderCovenSignature, goodSig), body: body, want: webhook.ErrMalformedTimestamp},
		{name: "timestamp with leading zero", header: header(webhook.HeaderCovenTimestamp, "0"+ts, webhook.HeaderCovenSignature, goodSig), body: body, want: webhook.ErrMalformedTimestamp},
		{name: "timestamp with plus sign", header: header(webhook.HeaderCovenTimestamp, "+"+ts, webhook.HeaderCovenSignature, goodSig), body: body, want: webhook.ErrMalformedTimestamp},
		{name: "negative timestamp", header: header(webhook.HeaderCovenTimestamp, "-5", webhook.HeaderCovenSignature, goodSig), body: body, want: webhook.ErrMalformedTimestamp},
		{name: "timestamp with fraction", header: header(webhook.HeaderCovenTimestamp, ts+".5", webhook.HeaderCovenSignature, goodSig), body: body, want: webhook.ErrMalformedTimestamp},
		{name: "timestamp in milliseconds is future", header: covenSigned(covenSecretA, now*1000, body), body: body, want: webhook.ErrTimestampTooNew},
		{name: "timestamp with surrounding space", header: header(webhook.HeaderCovenTimestamp, " "+ts, webhook.HeaderCovenSignature, goodSig), body: body, want: webhook.ErrMalformedTimestamp},
		{name: "timestamp beyond int64", header: header(webhook.HeaderCovenTimestamp, "9223372036854775808", webhook.HeaderCovenSignature, goodSig), body: body, want: webhook.ErrMalformedTimestamp},

		{name: "bad hex", header: header(webhook.HeaderCovenTimestamp, ts, webhook.HeaderCovenSignature, "sha256="+strings.Repeat("zz", 32)), body: body, want: webhook.ErrMalformedSignature},
		{name: "upper-case hex", header: header(webhook.HeaderCovenTimestamp, ts, webhook.HeaderCovenSignature, "sha256="+strings.ToUpper(hexPart)), body: body, want: webhook.ErrMalformedSignature},
		{name: "upper-case prefix", header: header(webhook.HeaderCovenTimestamp, ts, webhook.HeaderCovenSignature, "SHA256="+hexPart), body: body, want: webhook.ErrMalformedSignature},
		{name: "no prefix", header: header(webhook.HeaderCovenTimestamp, ts, webhook.HeaderCovenSignature, hexPart), body: body, want: webhook.ErrMalformedSignature},
		{name: "other algorithm", header: header(webhook.HeaderCovenTimestamp, ts, webhook.HeaderCovenSignature, "sha1="+hexPart[:40]), body: body, want: webhook.ErrMalformedSignature},
		{name: "truncated hex", header: header(webhook.HeaderCovenTimestamp, ts, webhook.HeaderCovenSignature, goodSig[:len(goodSig)-1]), body: body, want: webhook.ErrMalformedSignature},
		{name: "extended hex", header: header(webhook.HeaderCovenTimestamp, ts, webhook.HeaderCovenSignature, goodSig+"0"), body: body, want: webhook.ErrMalformedSignature},
		{name: "signature with trailing space", header: header(webhook.HeaderCovenTimestamp, ts, webhook.HeaderCovenSignature, goodSig+" "), body: body, want: webhook.ErrMalformedSignature},

		{name: "wrong secret", header: covenSigned(covenSecretC, now, body), body: body, want: webhook.ErrNoMatchingSignature},
		{name: "tampered body", header: covenSigned(covenSecretA, now, body), body: body + " ", want: webhook.ErrNoMatchingSignature},
		{name: "tampered timestamp", header: header(webhook.HeaderCovenTimestamp, strconv.FormatInt(now+1, 10), webhook.HeaderCovenSignature, goodSig), body: body, want: webhook.ErrNoMatchingSignature},
		{name: "signature over body alone", header: header(webhook.HeaderCovenTimestamp, ts, webhook.HeaderCovenSignature, githubStyleSignature(covenSecretA, body)), body: body, want: webhook.ErrNoMatchingSignature},

		{name: "standard headers only", header: standardSigned(standardKeyA, "msg_1", now, body), body: body, want: webhook.ErrMissingHeaders},
		{
			name: "invalid coven signature beside a valid standard one",
			header: merge(
				standardSigned(standardKeyA, "msg_1", now, body),
				covenSigned(covenSecretC, now, body),
			),
			body: body, want: webhook.ErrNoMatchingSignature,
		},
		{
			name:   "valid coven signature beside unrelated standard headers",
			header: merge(header(webhook.HeaderStandardSignature, "garbage"), covenSigned(covenSecretA, now, body)),
			body:   body,
		},
	}

	v := newVerifier(t, webhook.VerifierConfig{Scheme: webhook.SchemeCoven, Secrets: []string{covenSecretA}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := v.Verify(tc.header, []byte(tc.body))
			if !matches(err, tc.want) {
				t.Fatalf("Verify() = %v, want %v", err, tc.want)
			}
			checkHeadersAgree(t, v, tc.header, tc.want)
			if err != nil {
				if r := webhook.Reason(err); r == webhook.ReasonUnknown {
					t.Errorf("Reason(%v) = %q", err, r)
				}
				assertNoSecrets(t, err.Error(), covenSecretA, goodSig, hexPart)
			}
		})
	}
}

func TestVerifyCovenRotation(t *testing.T) {
	const body = "rotation"
	now := testNow.Unix()
	cases := []struct {
		name     string
		secrets  []string
		signWith string
		want     error
	}{
		{name: "new secret, signed with new", secrets: []string{covenSecretA, covenSecretB}, signWith: covenSecretA},
		{name: "new secret, signed with old", secrets: []string{covenSecretA, covenSecretB}, signWith: covenSecretB},
		{name: "old secret retired", secrets: []string{covenSecretA}, signWith: covenSecretB, want: webhook.ErrNoMatchingSignature},
		{name: "neither secret", secrets: []string{covenSecretA, covenSecretB}, signWith: covenSecretC, want: webhook.ErrNoMatchingSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, webhook.VerifierConfig{Scheme: webhook.SchemeCoven, Secrets: tc.secrets})
			err := v.Verify(covenSigned(tc.signWith, now, body), []byte(body))
			if !matches(err, tc.want) {
				t.Fatalf("Verify() = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyTolerance(t *testing.T) {
	now := testNow.Unix()
	cases := []struct {
		name      string
		scheme    webhook.Scheme
		tolerance time.Duration
		age       int64 // seconds in the past; negative is in the future
		want      error
	}{
		{name: "coven default accepts 60s", scheme: webhook.SchemeCoven, age: 60},
		{name: "coven default rejects 61s", scheme: webhook.SchemeCoven, age: 61, want: webhook.ErrTimestampTooOld},
		{name: "standard default accepts 300s", scheme: webhook.SchemeStandard, age: 300},
		{name: "standard default rejects 301s", scheme: webhook.SchemeStandard, age: 301, want: webhook.ErrTimestampTooOld},
		{name: "standard default rejects 301s ahead", scheme: webhook.SchemeStandard, age: -301, want: webhook.ErrTimestampTooNew},
		{name: "configured 10s accepts 10s", scheme: webhook.SchemeCoven, tolerance: 10 * time.Second, age: 10},
		{name: "configured 10s rejects 11s", scheme: webhook.SchemeCoven, tolerance: 10 * time.Second, age: 11, want: webhook.ErrTimestampTooOld},
		{name: "configured 10s rejects 11s ahead", scheme: webhook.SchemeStandard, tolerance: 10 * time.Second, age: -11, want: webhook.ErrTimestampTooNew},
		{name: "configured 1h accepts 59m", scheme: webhook.SchemeCoven, tolerance: time.Hour, age: 59 * 60},
		{name: "fraction of a second is ignored", scheme: webhook.SchemeCoven, tolerance: 2500 * time.Millisecond, age: 3, want: webhook.ErrTimestampTooOld},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const body = "tolerance"
			var h http.Header
			cfg := webhook.VerifierConfig{Scheme: tc.scheme, Tolerance: tc.tolerance}
			if tc.scheme == webhook.SchemeCoven {
				cfg.Secrets = []string{covenSecretA}
				h = covenSigned(covenSecretA, now-tc.age, body)
			} else {
				cfg.Secrets = []string{standardSecretA}
				h = standardSigned(standardKeyA, "msg_1", now-tc.age, body)
			}
			v := newVerifier(t, cfg)
			if err := v.Verify(h, []byte(body)); !matches(err, tc.want) {
				t.Fatalf("Verify() = %v, want %v", err, tc.want)
			}
		})
	}
}

// matches reports whether err is nil when want is nil, or wraps want otherwise.
func matches(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

// merge returns a header holding every value of every argument.
func merge(headers ...http.Header) http.Header {
	out := http.Header{}
	for _, h := range headers {
		for name, values := range h {
			out[name] = append(out[name], values...)
		}
	}
	return out
}
