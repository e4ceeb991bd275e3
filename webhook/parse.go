package webhook

import (
	"crypto/sha256"
	"fmt"
	"math"
	"net/http"
	"strings"
)

const (
	// covenSignaturePrefix names the MAC in an X-Coven-Signature value, as GitHub's
	// X-Hub-Signature-256 does.
	covenSignaturePrefix = "sha256="
	// standardVersion tags a symmetric HMAC-SHA256 Standard Webhooks signature.
	standardVersion = "v1"
	// standardSignatureLen is the length of a padded base64 SHA-256 MAC.
	standardSignatureLen = (sha256.Size + 2) / 3 * 4
)

// header is a required request header and the error its repetition counts as.
type header struct {
	name      string
	malformed error
}

var (
	covenHeaders = [...]header{
		{HeaderCovenTimestamp, ErrMalformedTimestamp},
		{HeaderCovenSignature, ErrMalformedSignature},
	}
	standardHeaders = [...]header{
		{HeaderStandardID, ErrMalformedID},
		{HeaderStandardTimestamp, ErrMalformedTimestamp},
		{HeaderStandardSignature, ErrMalformedSignature},
	}
)

// readHeaders stores the single value of each of want in the same position of vals.
// A repeated header is malformed, since the sender could only have signed one of its
// values; all missing headers are reported together.
func readHeaders(h http.Header, want []header, vals []string) error {
	var missing []string
	for i, w := range want {
		values := h.Values(w.name)
		switch {
		case len(values) > 1:
			return fmt.Errorf("%w: header %s appears %d times", w.malformed, w.name, len(values))
		case len(values) == 0 || values[0] == "":
			missing = append(missing, w.name)
		default:
			vals[i] = values[0]
		}
	}
	if missing != nil {
		return fmt.Errorf("%w: %s", ErrMissingHeaders, strings.Join(missing, ", "))
	}
	return nil
}

// parseTimestamp parses canonical decimal unix seconds: digits only, no sign, no
// leading zero. Canonical form matters because the header text itself is signed: one
// number has one accepted spelling.
func parseTimestamp(s string) (int64, bool) {
	if s == "" || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseCovenSignature parses "sha256=<64 lowercase hex digits>".
func parseCovenSignature(s string) (mac [sha256.Size]byte, ok bool) {
	digits, found := strings.CutPrefix(s, covenSignaturePrefix)
	if !found || len(digits) != 2*sha256.Size {
		return mac, false
	}
	for i := range mac {
		hi, okHi := lowerHexDigit(digits[2*i])
		lo, okLo := lowerHexDigit(digits[2*i+1])
		if !okHi || !okLo {
			return mac, false
		}
		mac[i] = hi<<4 | lo
	}
	return mac, true
}

// lowerHexDigit decodes one lowercase hex digit; the signer only emits lowercase, so
// anything else did not come from a conforming signer.
func lowerHexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	default:
		return 0, false
	}
}

// nextEntry splits the first entry off a space-separated signature list. It returns
// an empty entry only when nothing but spaces is left.
func nextEntry(list string) (entry, rest string) {
	entry, rest, _ = strings.Cut(strings.TrimLeft(list, " "), " ")
	return entry, rest
}

// parseStandardEntry parses one "<version>,<signature>" entry of a webhook-signature
// list. isV1 reports whether the entry is a v1 signature; entries of other versions are
// skipped (isV1 false, err nil) so senders can add schemes without breaking receivers.
func parseStandardEntry(entry string) (mac [sha256.Size]byte, isV1 bool, err error) {
	version, encoded, found := strings.Cut(entry, ",")
	if !found || version == "" {
		return mac, false, fmt.Errorf("%w: entry is not <version>,<signature>", ErrMalformedSignature)
	}
	if version != standardVersion {
		return mac, false, nil
	}
	if len(encoded) != standardSignatureLen {
		return mac, false, fmt.Errorf("%w: v1 signature is not base64 of 32 bytes", ErrMalformedSignature)
	}
	// Decode from a stack copy: converting the string to a slice would allocate, and
	// the extra byte of room lets an unpadded 44-character input decode to 33 bytes
	// (and be rejected) instead of overrunning the MAC.
	var src [standardSignatureLen]byte
	var dst [sha256.Size + 1]byte
	copy(src[:], encoded)
	n, decodeErr := strictBase64.Decode(dst[:], src[:])
	if decodeErr != nil || n != sha256.Size {
		return mac, false, fmt.Errorf("%w: v1 signature is not base64 of 32 bytes", ErrMalformedSignature)
	}
	copy(mac[:], dst[:n])
	return mac, true, nil
}

// checkStandardSignatures validates a whole webhook-signature list before any HMAC work
// and returns how many v1 signatures it holds. One malformed entry rejects the list: a
// conforming sender never produces one, and accepting the rest would make the header's
// meaning depend on how leniently it is read.
func checkStandardSignatures(list string, maxEntries int) (v1 int, err error) {
	entries := 0
	for entry, rest := nextEntry(list); entry != ""; entry, rest = nextEntry(rest) {
		entries++
		if entries > maxEntries {
			return 0, fmt.Errorf("%w: more than %d signatures", ErrMalformedSignature, maxEntries)
		}
		_, isV1, err := parseStandardEntry(entry)
		if err != nil {
			return 0, err
		}
		if isV1 {
			v1++
		}
	}
	if entries == 0 {
		return 0, fmt.Errorf("%w: empty signature list", ErrMalformedSignature)
	}
	return v1, nil
}

// validMessageID reports whether id can be signed unambiguously: printable ASCII
// without spaces and without '.', the separator of the signed content.
func validMessageID(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '.' {
			return false
		}
	}
	return true
}
