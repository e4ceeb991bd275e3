package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"
)

// macScratchLen bounds the chunks strings are hashed in; timestamps and message ids
// nearly always fit in one.
const macScratchLen = 128

// macSet holds one keyed HMAC-SHA256 state per secret and the sums they last produced.
// Sets are pooled: keying an HMAC derives two padded key blocks and allocates, while
// Reset on a keyed state only restores it, so a pooled set makes Verify allocation-free.
type macSet struct {
	hashes  []hash.Hash
	sums    [][sha256.Size]byte
	scratch [macScratchLen]byte
}

// macPool is a pool of macSets for one fixed list of keys.
type macPool struct {
	pool sync.Pool
}

// newMACSet returns a set keyed with keys, in order. The keys are captured, not
// copied; callers must not modify them afterwards.
func newMACSet(keys [][]byte) *macSet {
	set := &macSet{
		hashes: make([]hash.Hash, len(keys)),
		sums:   make([][sha256.Size]byte, len(keys)),
	}
	for i, key := range keys {
		set.hashes[i] = hmac.New(sha256.New, key)
	}
	return set
}

// newMACPool returns a pool of sets keyed with keys (see newMACSet).
func newMACPool(keys [][]byte) *macPool {
	p := &macPool{}
	p.pool.New = func() any { return newMACSet(keys) }
	return p
}

func (p *macPool) get() *macSet  { return p.pool.Get().(*macSet) }
func (p *macPool) put(s *macSet) { p.pool.Put(s) }

// sumCoven computes HMAC(key, "<ts>.<body>") for every key.
func (s *macSet) sumCoven(ts string, body []byte) {
	for i, h := range s.hashes {
		h.Reset()
		s.writeString(h, ts)
		s.writeString(h, ".")
		h.Write(body)
		h.Sum(s.sums[i][:0])
	}
}

// sumStandard computes HMAC(key, "<id>.<ts>.<body>") for every key.
func (s *macSet) sumStandard(id, ts string, body []byte) {
	for i, h := range s.hashes {
		h.Reset()
		s.writeString(h, id)
		s.writeString(h, ".")
		s.writeString(h, ts)
		s.writeString(h, ".")
		h.Write(body)
		h.Sum(s.sums[i][:0])
	}
}

// writeString hashes str through the set's scratch buffer, because hash.Hash only
// takes byte slices and converting a string to one allocates.
func (s *macSet) writeString(h hash.Hash, str string) {
	for str != "" {
		n := copy(s.scratch[:], str)
		h.Write(s.scratch[:n])
		str = str[n:]
	}
}

// matchesAny reports whether mac equals any of the set's sums. Every sum is compared,
// whatever matched before, so the time taken does not reveal which secret matched.
func (s *macSet) matchesAny(mac *[sha256.Size]byte) bool {
	equal := false
	for i := range s.sums {
		// Evaluate every comparison before combining, so that no short-circuit skips one.
		same := hmac.Equal(mac[:], s.sums[i][:])
		equal = equal || same
	}
	return equal
}

// appendCovenSignature appends an X-Coven-Signature value for mac.
func appendCovenSignature(dst []byte, mac *[sha256.Size]byte) []byte {
	dst = append(dst, covenSignaturePrefix...)
	return hex.AppendEncode(dst, mac[:])
}

// appendStandardSignature appends a webhook-signature entry for mac.
func appendStandardSignature(dst []byte, mac *[sha256.Size]byte) []byte {
	dst = append(dst, standardVersion+","...)
	return strictBase64.AppendEncode(dst, mac[:])
}
