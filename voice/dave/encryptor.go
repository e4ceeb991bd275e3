package dave

import (
	"errors"
	"slices"
	"sync"
)

// Ratchet generations: the top byte of the 32-bit truncated nonce, extended past 255 by
// tracking wraps.
const (
	generationShift = 24
	generationWrap  = 1 << 8
)

// wrappedGeneration extends an 8-bit generation to the full one, assuming it is not older
// than oldest (a wrong guess fails the generation gap check later).
func wrappedGeneration(oldest, gen uint32) uint32 {
	factor := oldest / generationWrap
	if gen < oldest%generationWrap {
		factor++
	}
	return factor*generationWrap + gen
}

// ErrNoKey reports a frame operation before the session has a key for it.
var ErrNoKey = errors.New("dave: no key for this sender yet")

// FrameEncryptor encrypts this member's outgoing media frames with its sender key. It is
// safe for concurrent use; the voice client calls it from its send loop while the session
// swaps keys on transitions.
type FrameEncryptor struct {
	mu          sync.Mutex
	passthrough bool // protocol version 0 or no group yet: frames go out unchanged
	ratchet     *keyRatchet
	generation  uint32
	nonce       uint32
	cipher      *frameCipher

	// Scratch space of H.264 frames, reused across calls.
	media, aad, plain, sealed []byte
	ranges                    []clearRange
}

// setRatchet switches to a new epoch's key: the nonce and generation restart at 0.
func (e *FrameEncryptor) setRatchet(r *keyRatchet) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ratchet, e.cipher, e.generation, e.nonce = r, nil, 0, 0
	e.passthrough = false
}

// setPassthrough makes the encryptor send frames unchanged (DAVE protocol version 0).
func (e *FrameEncryptor) setPassthrough() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.passthrough = true
	e.ratchet, e.cipher = nil, nil
}

// Encrypt appends the DAVE protocol frame of frame to dst and returns it. Opus silence frames
// and, while the session is not end-to-end encrypted, all frames pass through unchanged.
// With enough capacity in dst (len(frame)+64) it allocates nothing.
func (e *FrameEncryptor) Encrypt(codec Codec, dst, frame []byte) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.passthrough || (codec == CodecOpus && isOpusSilence(frame)) {
		return append(dst, frame...), nil
	}
	if codec == CodecH264 {
		return e.encryptH264(dst, frame)
	}
	if err := e.advance(); err != nil {
		return dst, err
	}
	clear := clearPrefix(codec, frame)
	out := slices.Grow(dst, len(frame)+fullTagSize+2*maxULEB128Size+4)
	out = append(out, frame[:clear]...)
	out = e.cipher.seal(out, e.nonce, frame[clear:], frame[:clear])
	suppStart := len(out) - tagSize
	out = appendULEB128(out, uint64(e.nonce))
	if clear > 0 {
		out = appendULEB128(out, 0)
		out = appendULEB128(out, uint64(clear))
	}
	out = append(out, byte(len(out)-suppStart+1+markerSize), marker, marker)
	return out, nil
}

// advance moves to the next nonce and makes sure the cipher is its generation's. e.mu is held.
func (e *FrameEncryptor) advance() error {
	if e.ratchet == nil {
		return ErrNoKey
	}
	e.nonce++
	gen := wrappedGeneration(e.generation, e.nonce>>generationShift)
	if gen != e.generation || e.cipher == nil {
		key, err := e.ratchet.key(gen)
		if err != nil {
			return err
		}
		c, err := newFrameCipher(key)
		if err != nil {
			return err
		}
		if gen != e.generation {
			e.ratchet.erase(e.generation)
		}
		e.generation, e.cipher = gen, c
	}
	return nil
}
