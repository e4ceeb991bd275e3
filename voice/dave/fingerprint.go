package dave

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"

	"golang.org/x/crypto/scrypt"
)

// fingerprintSalt is the scrypt salt of DAVE's pairwise verification fingerprints.
var fingerprintSalt = []byte{0x24, 0xca, 0xb1, 0x7a, 0x7a, 0xf8, 0xec, 0x2b, 0x82, 0xb4, 0x12, 0xb9, 0x2d, 0xab, 0x19, 0x2e}

// PairwiseFingerprint computes the 64-byte fingerprint two users compare out of band to
// verify each other's signature keys (whitepaper "Verification Fingerprint"): scrypt
// (N=16384, r=8, p=2) over the two sorted version || public key || big-endian user ID
// buffers. Verification codes are DisplayableCode(fingerprint, 45, 5). It takes about a
// tenth of a second.
func PairwiseFingerprint(version uint16, localKey []byte, localUserID uint64, remoteKey []byte, remoteUserID uint64) ([]byte, error) {
	if len(localKey) == 0 || len(remoteKey) == 0 {
		return nil, errors.New("dave: fingerprint needs both public keys")
	}
	buf := func(key []byte, uid uint64) []byte {
		b := binary.BigEndian.AppendUint16(nil, version)
		b = append(b, key...)
		return binary.BigEndian.AppendUint64(b, uid)
	}
	parts := [][]byte{buf(localKey, localUserID), buf(remoteKey, remoteUserID)}
	slices.SortFunc(parts, bytes.Compare)
	return scrypt.Key(append(parts[0], parts[1]...), fingerprintSalt, 16384, 8, 2, 64)
}

// VerificationCode returns the 45-digit code this member shows for a remote member of the
// established group, from their pairwise fingerprint (version 0).
func (s *Session) VerificationCode(remoteUserID uint64) (string, error) {
	s.mu.Lock()
	if !s.established {
		s.mu.Unlock()
		return "", errors.New("dave: no established group")
	}
	var remoteKey []byte
	for _, m := range s.group.Members() {
		if m.UserID == remoteUserID {
			remoteKey = m.SignatureKey
		}
	}
	s.mu.Unlock()
	if remoteKey == nil {
		return "", errors.New("dave: user is not in the group")
	}
	fp, err := PairwiseFingerprint(0, s.sig.PublicKey(), s.cfg.UserID, remoteKey, remoteUserID)
	if err != nil {
		return "", err
	}
	return DisplayableCode(fp, 45, 5)
}
