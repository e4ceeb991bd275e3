package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"strconv"
	"sync"
	"time"
)

// Claims are the claims of a verified token.
//
// The registered claims are decoded into fields; every claim, registered or not, can be read with Get
// and String. Claims are decoded with JSON numbers kept exact (as json.Number), because identifiers
// such as Discord snowflakes do not survive a trip through float64.
type Claims struct {
	// Subject is sub: whom the token is about. Always non-empty.
	Subject string
	// Issuer is iss. Always equal to Config.Issuer.
	Issuer string
	// Audience is aud, as a list even when the token carried a single string.
	Audience []string
	// Expiry is exp. Always set.
	Expiry time.Time
	// IssuedAt is iat, or the zero time when absent.
	IssuedAt time.Time
	// NotBefore is nbf, or the zero time when absent.
	NotBefore time.Time
	// ID is jti, or "" when absent.
	ID string

	// payload is the claims' JSON, decoded into all when a claim is first read by name: the verified
	// tokens a cache keeps mostly serve the fields above only (the stream's), and the JSON takes about
	// a third of the memory of the decoded claims.
	payload []byte
	once    sync.Once
	all     map[string]any
}

// claims returns every claim, decoding them on first use.
func (c *Claims) claims() map[string]any {
	c.once.Do(func() {
		if c.all == nil && c.payload != nil {
			// The payload decoded without error when the token was verified.
			c.all, _ = decodeObject(c.payload)
		}
	})
	return c.all
}

// Get returns the claim with the given name as decoded from JSON: string, json.Number, bool, nil,
// []any or map[string]any. The value is shared, so callers must not modify it.
func (c *Claims) Get(name string) (any, bool) {
	v, ok := c.claims()[name]
	return v, ok
}

// String returns a scalar claim as text: a string as is, a number in its exact JSON form, a boolean as
// "true" or "false". It reports false for an absent claim, null, arrays and objects.
func (c *Claims) String(name string) (string, bool) {
	switch v := c.claims()[name].(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	default:
		return "", false
	}
}

// All iterates over every claim in no particular order, with values as Get returns them.
func (c *Claims) All() iter.Seq2[string, any] {
	return func(yield func(string, any) bool) {
		for name, v := range c.claims() {
			if !yield(name, v) {
				return
			}
		}
	}
}

// decodeClaims decodes a verified JWT payload. It fails only on JSON that is not an object or on
// registered claims of the wrong type; whether required claims are present is checked afterwards.
func decodeClaims(payload []byte) (*Claims, error) {
	all, err := decodeObject(payload)
	if err != nil {
		return nil, err
	}
	// The map is dropped: Get decodes the payload again when it is first needed.
	c := &Claims{payload: bytes.Clone(payload)}
	if c.Issuer, err = stringClaim(all, "iss"); err != nil {
		return nil, err
	}
	if c.Subject, err = stringClaim(all, "sub"); err != nil {
		return nil, err
	}
	if c.ID, err = stringClaim(all, "jti"); err != nil {
		return nil, err
	}
	if c.Audience, err = audienceClaim(all); err != nil {
		return nil, err
	}
	if c.Expiry, err = timeClaim(all, "exp"); err != nil {
		return nil, err
	}
	if c.NotBefore, err = timeClaim(all, "nbf"); err != nil {
		return nil, err
	}
	if c.IssuedAt, err = timeClaim(all, "iat"); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeObject decodes a JSON object with numbers kept exact, refusing anything else and trailing data.
func decodeObject(payload []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var all map[string]any
	if err := dec.Decode(&all); err != nil || all == nil {
		return nil, errors.New("claims are not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("claims are followed by trailing data")
	}
	return all, nil
}

func stringClaim(all map[string]any, name string) (string, error) {
	v, ok := all[name]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("claim %s is not a string", name)
	}
	return s, nil
}

// audienceClaim accepts both forms RFC 7519 allows: one string or an array of strings.
func audienceClaim(all map[string]any) ([]string, error) {
	switch v := all["aud"].(type) {
	case nil:
		if _, present := all["aud"]; present {
			return nil, errors.New("claim aud is null")
		}
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		auds := make([]string, 0, len(v))
		for _, a := range v {
			s, ok := a.(string)
			if !ok {
				return nil, errors.New("claim aud holds a non-string")
			}
			auds = append(auds, s)
		}
		return auds, nil
	default:
		return nil, errors.New("claim aud is neither a string nor an array")
	}
}

// maxNumericDate is 9999-12-31T23:59:59Z; later dates are not dates, they are attempts to overflow.
const maxNumericDate = 253402300799

// timeClaim decodes a NumericDate: seconds since the epoch, possibly fractional.
func timeClaim(all map[string]any, name string) (time.Time, error) {
	v, ok := all[name]
	if !ok {
		return time.Time{}, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, fmt.Errorf("claim %s is not a number", name)
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || f < 0 || f > maxNumericDate {
		return time.Time{}, fmt.Errorf("claim %s is not a valid date", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}
