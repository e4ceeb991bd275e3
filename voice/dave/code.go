package dave

import (
	"errors"
	"strconv"
)

// DisplayableCode renders data as decimal digits in groups (whitepaper "Displayable Codes"):
// each group of groupSize digits is the next groupSize bytes, big endian, modulo
// 10^groupSize. Voice privacy codes are DisplayableCode(epochAuthenticator, 30, 5).
func DisplayableCode(data []byte, length, groupSize int) (string, error) {
	switch {
	case groupSize <= 0 || groupSize >= 8:
		return "", errors.New("dave: displayable code group size must be 1 to 7")
	case length <= 0 || length%groupSize != 0:
		return "", errors.New("dave: displayable code length must be a positive multiple of the group size")
	case len(data) < length:
		return "", errors.New("dave: not enough data for the displayable code")
	}
	mod := uint64(1)
	for range groupSize {
		mod *= 10
	}
	out := make([]byte, 0, length)
	for i := 0; i < length; i += groupSize {
		var v uint64
		for _, b := range data[i : i+groupSize] {
			v = v<<8 | uint64(b)
		}
		s := strconv.FormatUint(v%mod, 10)
		for range groupSize - len(s) {
			out = append(out, '0')
		}
		out = append(out, s...)
	}
	return string(out), nil
}
