package webhook_test

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/spellcoven/gateway/webhook"
)

// standardSigned returns headers signing body as message id at ts with key.
func standardSigned(key []byte, id string, ts int64, body string) http.Header {
	return header(
		webhook.HeaderStandardID, id,
		webhook.HeaderStandardTimestamp, strconv.FormatInt(ts, 10),
		webhook.HeaderStandardSignature, webhook.SignStandard(key, id, ts, []byte(body)),
	)
}

// standardWith returns valid id and timestamp headers with the given signature list.
func standardWith(id string, ts int64, signatures string) http.Header {
	return header(
		webhook.HeaderStandardID, id,
		webhook.HeaderStandardTimestamp, strconv.FormatInt(ts, 10),
		webhook.HeaderStandardSignature, signatures,
	)
}

func TestVerifyStandard(t *testing.T) {
	const (
		body = `{"type":"room.created"}`
		id   = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
	)
	now := testNow.Unix()
	ts := strconv.FormatInt(now, 10)
	good := webhook.SignStandard(standardKeyA, id, now, []byte(body))
	goodB64 := strings.TrimPrefix(good, "v1,")
	wrong := webhook.SignStandard(standardKeyC, id, now, []byte(body))
	sigOf31Bytes := "v1," + base64.StdEncoding.EncodeToString(make([]byte, 31))
	sigOf33Bytes := "v1," + base64.StdEncoding.EncodeToString(make([]byte, 33))

	cases := []struct {
		name   string
		header http.Header
		body   string
		want   error
	}{
		{name: "valid", header: standardSigned(standardKeyA, id, now, body), body: body},
		{name: "empty body", header: standardSigned(standardKeyA, id, now, ""), body: ""},
		{name: "300s old is within tolerance", header: standardSigned(standardKeyA, id, now-300, body), body: body},
		{name: "301s old is stale", header: standardSigned(standardKeyA, id, now-301, body), body: body, want: webhook.ErrTimestampTooOld},
		{name: "300s ahead is within tolerance", header: standardSigned(standardKeyA, id, now+300, body), body: body},
		{name: "301s ahead is future", header: standardSigned(standardKeyA, id, now+301, body), body: body, want: webhook.ErrTimestampTooNew},

		{name: "no headers", header: http.Header{}, body: body, want: webhook.ErrMissingHeaders},
		{name: "missing id", header: header(webhook.HeaderStandardTimestamp, ts, webhook.HeaderStandardSignature, good), body: body, want: webhook.ErrMissingHeaders},
		{name: "missing timestamp", header: header(webhook.HeaderStandardID, id, webhook.HeaderStandardSignature, good), body: body, want: webhook.ErrMissingHeaders},
		{name: "missing signature", header: header(webhook.HeaderStandardID, id, webhook.HeaderStandardTimestamp, ts), body: body, want: webhook.ErrMissingHeaders},
		{name: "empty id counts as missing", header: standardWith("", now, good), body: body, want: webhook.ErrMissingHeaders},

		{name: "repeated id", header: merge(standardSigned(standardKeyA, id, now, body), header(webhook.HeaderStandardID, id)), body: body, want: webhook.ErrMalformedID},
		{name: "repeated timestamp", header: merge(standardSigned(standardKeyA, id, now, body), header(webhook.HeaderStandardTimestamp, ts)), body: body, want: webhook.ErrMalformedTimestamp},
		{name: "signatures on separate lines", header: merge(standardSigned(standardKeyA, id, now, body), header(webhook.HeaderStandardSignature, wrong)), body: body, want: webhook.ErrMalformedSignature},

		{name: "id containing a dot", header: standardSigned(standardKeyA, "msg.1", now, body), body: body, want: webhook.ErrMalformedID},
		{name: "id containing a space", header: standardSigned(standardKeyA, "msg 1", now, body), body: body, want: webhook.ErrMalformedID},
		{name: "id containing non-ASCII", header: standardSigned(standardKeyA, "msg_é", now, body), body: body, want: webhook.ErrMalformedID},
		{name: "timestamp not a number", header: header(webhook.HeaderStandardID, id, webhook.HeaderStandardTimestamp, "now", webhook.HeaderStandardSignature, good), body: body, want: webhook.ErrMalformedTimestamp},
		{name: "timestamp with leading zero", header: header(webhook.HeaderStandardID, id, webhook.HeaderStandardTimestamp, "0"+ts, webhook.HeaderStandardSignature, good), body: body, want: webhook.ErrMalformedTimestamp},

		{name: "valid first of several", header: standardWith(id, now, good+" "+wrong+" "+wrong), body: body},
		{name: "valid in the middle", header: standardWith(id, now, wrong+" "+good+" "+wrong), body: body},
		{name: "valid last of several", header: standardWith(id, now, wrong+" "+wrong+" "+good), body: body},
		{name: "unknown versions are skipped", header: standardWith(id, now, "v1a,"+goodB64+" v2,anything "+good), body: body},
		{name: "only unknown versions", header: standardWith(id, now, "v1a,"+goodB64+" v2,"+goodB64), body: body, want: webhook.ErrNoMatchingSignature},
		{name: "version is case-sensitive", header: standardWith(id, now, "V1,"+goodB64), body: body, want: webhook.ErrNoMatchingSignature},
		{name: "runs of spaces separate entries", header: standardWith(id, now, "  "+wrong+"   "+good+"  "), body: body},
		{name: "tab is not a separator", header: standardWith(id, now, wrong+"\t"+good), body: body, want: webhook.ErrMalformedSignature},
		{name: "comma is not a separator", header: standardWith(id, now, wrong+","+good), body: body, want: webhook.ErrMalformedSignature},
		{name: "only spaces", header: standardWith(id, now, "   "), body: body, want: webhook.ErrMalformedSignature},

		{name: "entry without version", header: standardWith(id, now, goodB64), body: body, want: webhook.ErrMalformedSignature},
		{name: "entry with empty version", header: standardWith(id, now, ","+goodB64), body: body, want: webhook.ErrMalformedSignature},
		{name: "empty v1 signature", header: standardWith(id, now, "v1,"), body: body, want: webhook.ErrMalformedSignature},
		{name: "v1 signature not base64", header: standardWith(id, now, "v1,"+strings.Repeat("!", 44)), body: body, want: webhook.ErrMalformedSignature},
		{name: "v1 signature in URL alphabet", header: standardWith(id, now, "v1,"+strings.Repeat("-_", 21)+"A="), body: body, want: webhook.ErrMalformedSignature},
		{name: "v1 signature unpadded", header: standardWith(id, now, "v1,"+strings.TrimRight(goodB64, "=")), body: body, want: webhook.ErrMalformedSignature},
		{name: "v1 signature of 31 bytes", header: standardWith(id, now, sigOf31Bytes), body: body, want: webhook.ErrMalformedSignature},
		{name: "v1 signature of 33 bytes", header: standardWith(id, now, sigOf33Bytes), body: body, want: webhook.ErrMalformedSignature},
		{name: "reference suite's invalid signature", header: standardWith(id, now, "v1,dawfeoifkpqwoekfpqoekf"), body: body, want: webhook.ErrMalformedSignature},
		{name: "malformed entry beside a valid one", header: standardWith(id, now, good+" v1,xyz"), body: body, want: webhook.ErrMalformedSignature},

		{name: "wrong secret", header: standardSigned(standardKeyC, id, now, body), body: body, want: webhook.ErrNoMatchingSignature},
		{name: "tampered body", header: standardSigned(standardKeyA, id, now, body), body: body[1:], want: webhook.ErrNoMatchingSignature},
		{name: "tampered timestamp", header: header(webhook.HeaderStandardID, id, webhook.HeaderStandardTimestamp, strconv.FormatInt(now-1, 10), webhook.HeaderStandardSignature, good), body: body, want: webhook.ErrNoMatchingSignature},
		{name: "tampered id", header: header(webhook.HeaderStandardID, id+"x", webhook.HeaderStandardTimestamp, ts, webhook.HeaderStandardSignature, good), body: body, want: webhook.ErrNoMatchingSignature},

		{name: "coven headers only", header: covenSigned(covenSecretA, now, body), body: body, want: webhook.ErrMissingHeaders},
		{
			name:   "invalid standard signature beside a valid coven one",
			header: merge(covenSigned(covenSecretA, now, body), standardWith(id, now, wrong)),
			body:   body, want: webhook.ErrNoMatchingSignature,
		},
	}

	v := newVerifier(t, webhook.VerifierConfig{Scheme: webhook.SchemeStandard, Secrets: []string{standardSecretA}})
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
				assertNoSecrets(t, err.Error(), standardSecretA, string(standardKeyA), good, goodB64)
			}
		})
	}
}

func TestVerifyStandardRotation(t *testing.T) {
	const (
		body = "rotation"
		id   = "msg_rotation"
	)
	now := testNow.Unix()
	sigA := webhook.SignStandard(standardKeyA, id, now, []byte(body))
	sigB := webhook.SignStandard(standardKeyB, id, now, []byte(body))
	sigC := webhook.SignStandard(standardKeyC, id, now, []byte(body))
	cases := []struct {
		name       string
		secrets    []string
		signatures string
		want       error
	}{
		{name: "two secrets, signed with first", secrets: []string{standardSecretA, standardSecretB}, signatures: sigA},
		{name: "two secrets, signed with second", secrets: []string{standardSecretA, standardSecretB}, signatures: sigB},
		{name: "sender signs with old and new", secrets: []string{standardSecretB}, signatures: sigA + " " + sigB},
		{name: "bare base64 secret", secrets: []string{strings.TrimPrefix(standardSecretB, "whsec_")}, signatures: sigB},
		{name: "neither secret", secrets: []string{standardSecretA, standardSecretB}, signatures: sigC, want: webhook.ErrNoMatchingSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, webhook.VerifierConfig{Scheme: webhook.SchemeStandard, Secrets: tc.secrets})
			err := v.Verify(standardWith(id, now, tc.signatures), []byte(body))
			if !matches(err, tc.want) {
				t.Fatalf("Verify() = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifyMaxSignatures(t *testing.T) {
	const (
		body = "limit"
		id   = "msg_limit"
	)
	now := testNow.Unix()
	good := webhook.SignStandard(standardKeyA, id, now, []byte(body))
	skipped := "v1a," + strings.Repeat("A", 86) + "=="
	cases := []struct {
		name    string
		max     int
		entries int // entries before the valid one, which is last
		want    error
	}{
		{name: "one allowed, one sent", max: 1, entries: 0},
		{name: "one allowed, two sent", max: 1, entries: 1, want: webhook.ErrMalformedSignature},
		{name: "three allowed, three sent", max: 3, entries: 2},
		{name: "three allowed, four sent", max: 3, entries: 3, want: webhook.ErrMalformedSignature},
		{name: "default allows 8", max: 0, entries: 7},
		{name: "default rejects 9", max: 0, entries: 8, want: webhook.ErrMalformedSignature},
		{name: "skipped versions count toward the limit", max: 2, entries: 2, want: webhook.ErrMalformedSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, webhook.VerifierConfig{
				Scheme: webhook.SchemeStandard, Secrets: []string{standardSecretA}, MaxSignatures: tc.max,
			})
			list := strings.Repeat(skipped+" ", tc.entries) + good
			if err := v.Verify(standardWith(id, now, list), []byte(body)); !matches(err, tc.want) {
				t.Fatalf("Verify() = %v, want %v", err, tc.want)
			}
		})
	}
}
