package dave

import (
	"errors"
	"slices"
	"sync"
	"time"
)

// Receive-side limits of libdave, kept as named defaults of [Config].
const (
	// DefaultKeyRetention is how long keys of a previous epoch or generation stay usable after
	// a newer one took over: media in flight during a transition still decrypts.
	DefaultKeyRetention = 10 * time.Second
	// DefaultMaxGenerationGap is how far ahead of the newest seen generation a frame may be.
	DefaultMaxGenerationGap = 250
	// DefaultMaxMissingNonces is how many skipped nonces are remembered for late frames.
	DefaultMaxMissingNonces = 1000
	// maxFramesPerSecond bounds how fast generations can advance (50 audio frames and two
	// 60 fps video streams), which rejects far-future generations on young ratchets.
	maxFramesPerSecond = 50 + 2*60
	// maxRetainedEpochs bounds the key ratchets a decryptor keeps while transitions never
	// execute.
	maxRetainedEpochs = 4
)

// ErrUnencrypted reports a clear frame while passthrough is not allowed.
var ErrUnencrypted = errors.New("dave: unencrypted frame while end-to-end encryption is required")

// ErrDecrypt reports a protocol frame no retained key opens: forged, corrupted, replayed, or
// from a key already retired.
var ErrDecrypt = errors.New("dave: no key opens this frame")

type limits struct {
	retention        time.Duration
	maxGenerationGap uint32
	maxMissingNonces uint64
}

// generationCipher is one generation's cipher; expiry is zero until a newer generation takes
// over.
type generationCipher struct {
	cipher *frameCipher
	expiry time.Time
}

// cipherManager holds one epoch's key ratchet for one sender, with replay protection.
type cipherManager struct {
	ratchet     *keyRatchet
	created     time.Time
	expiry      time.Time // zero: current epoch
	ciphers     map[uint32]*generationCipher
	oldest      uint32
	newest      uint32
	newestNonce uint64
	seenAny     bool
	missing     []uint64 // ascending skipped nonces that may still arrive
}

func newCipherManager(r *keyRatchet, now time.Time) *cipherManager {
	return &cipherManager{ratchet: r, created: now, ciphers: map[uint32]*generationCipher{}}
}

// bigNonce combines the full generation with the nonce's low 24 bits.
func bigNonce(gen, nonce uint32) uint64 {
	return uint64(gen)<<generationShift | uint64(nonce&(1<<generationShift-1))
}

func (m *cipherManager) canProcess(gen, nonce uint32) bool {
	if !m.seenAny {
		return true
	}
	n := bigNonce(gen, nonce)
	if n > m.newestNonce {
		return true
	}
	_, found := slices.BinarySearch(m.missing, n)
	return found
}

func (m *cipherManager) cipherFor(gen uint32, now time.Time, lim *limits) *frameCipher {
	for g, c := range m.ciphers {
		if !c.expiry.IsZero() && now.After(c.expiry) {
			delete(m.ciphers, g)
		}
	}
	for m.oldest < m.newest {
		if _, ok := m.ciphers[m.oldest]; ok {
			break
		}
		m.ratchet.erase(m.oldest)
		m.oldest++
	}
	if gen < m.oldest || gen > m.newest+lim.maxGenerationGap {
		return nil
	}
	lifetime := uint64(now.Sub(m.created) / time.Second)
	if uint64(gen) > (maxFramesPerSecond*lifetime)>>generationShift {
		return nil
	}
	if c, ok := m.ciphers[gen]; ok {
		return c.cipher
	}
	key, err := m.ratchet.key(gen)
	if err != nil {
		return nil
	}
	fc, err := newFrameCipher(key)
	if err != nil {
		return nil
	}
	gc := &generationCipher{cipher: fc}
	if gen < m.newest {
		gc.expiry = now.Add(lim.retention)
	}
	m.ciphers[gen] = gc
	return fc
}

// reportSuccess records a decrypted nonce for replay protection and retires older
// generations once a newer one is in use.
func (m *cipherManager) reportSuccess(gen, nonce uint32, now time.Time, lim *limits) {
	n := bigNonce(gen, nonce)
	switch {
	case !m.seenAny:
		m.seenAny, m.newestNonce = true, n
	case n > m.newestNonce:
		oldestMissing := uint64(0)
		if n > lim.maxMissingNonces {
			oldestMissing = n - lim.maxMissingNonces
		}
		i := 0
		for i < len(m.missing) && m.missing[i] < oldestMissing {
			i++
		}
		m.missing = m.missing[:copy(m.missing, m.missing[i:])]
		for k := max(oldestMissing, m.newestNonce+1); k < n; k++ {
			m.missing = append(m.missing, k)
		}
		m.newestNonce = n
	default:
		if i, found := slices.BinarySearch(m.missing, n); found {
			m.missing = slices.Delete(m.missing, i, i+1)
		}
	}
	if gen <= m.newest || m.ciphers[gen] == nil {
		return
	}
	m.newest = gen
	exp := now.Add(lim.retention)
	for g, c := range m.ciphers {
		if g < gen {
			c.expiry = exp
		}
	}
}

// FrameDecryptor decrypts one remote sender's media frames. It keeps the key ratchets of
// recent epochs so frames sent before a transition still decrypt for a while. It is safe for
// concurrent use.
type FrameDecryptor struct {
	mu       sync.Mutex
	lim      *limits
	now      func() time.Time
	managers []*cipherManager // oldest first
	// passthroughUntil: frames failing the protocol frame check pass unchanged before it;
	// passthroughForever overrides it (protocol version 0, or a pending downgrade).
	passthroughUntil   time.Time
	passthroughForever bool
	frame              protocolFrame
	aad, ciphertext    []byte
	plain, scratch     []byte
}

func newFrameDecryptor(lim *limits, now func() time.Time) *FrameDecryptor {
	return &FrameDecryptor{lim: lim, now: now}
}

// addRatchet adds a new epoch's ratchet for the sender. Older ratchets stay until the
// transition executes (see retireOld); only the newest few are kept meanwhile.
func (d *FrameDecryptor) addRatchet(r *keyRatchet) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.managers = append(d.managers, newCipherManager(r, d.now()))
	if n := len(d.managers); n > maxRetainedEpochs {
		d.managers = slices.Delete(d.managers, 0, n-maxRetainedEpochs)
	}
}

// retireOld gives every ratchet but the newest the retention period to live.
func (d *FrameDecryptor) retireOld() {
	d.mu.Lock()
	defer d.mu.Unlock()
	exp := d.now().Add(d.lim.retention)
	for _, m := range d.managers[:max(len(d.managers)-1, 0)] {
		if m.expiry.IsZero() || m.expiry.After(exp) {
			m.expiry = exp
		}
	}
}

// setPassthrough allows clear frames indefinitely (on) or for the retention period from now
// (off), never extending an earlier deadline.
func (d *FrameDecryptor) setPassthrough(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if on {
		d.passthroughForever = true
		return
	}
	exp := d.now().Add(d.lim.retention)
	if d.passthroughForever || d.passthroughUntil.After(exp) {
		d.passthroughUntil = exp
	}
	d.passthroughForever = false
}

func (d *FrameDecryptor) canPassthrough(now time.Time) bool {
	return d.passthroughForever || now.Before(d.passthroughUntil)
}

// Decrypt appends the media frame carried by a DAVE protocol frame to dst. Opus silence
// frames pass through; other clear frames pass through only while passthrough is allowed.
// Once its scratch buffers have grown to the largest frame seen it allocates nothing.
func (d *FrameDecryptor) Decrypt(dst, frame []byte) ([]byte, error) {
	if isOpusSilence(frame) {
		return append(dst, frame...), nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.now()
	for len(d.managers) > 0 && !d.managers[0].expiry.IsZero() && now.After(d.managers[0].expiry) {
		d.managers = d.managers[1:]
	}
	f := &d.frame
	if err := f.parse(frame); err != nil {
		if d.canPassthrough(now) {
			return append(dst, frame...), nil
		}
		return dst, ErrUnencrypted
	}
	// Split the interleaved frame into authenticated clear bytes and ciphertext.
	aad, ct := f.media[:0], f.media
	switch {
	case f.nrange == 0:
	case f.nrange == 1 && f.ranges[0].offset == 0:
		aad, ct = f.media[:f.ranges[0].size], f.media[f.ranges[0].size:]
	default:
		d.aad, d.ciphertext = d.aad[:0], d.ciphertext[:0]
		pos := 0
		for _, r := range f.ranges[:f.nrange] {
			d.ciphertext = append(d.ciphertext, f.media[pos:r.offset]...)
			d.aad = append(d.aad, f.media[r.offset:r.offset+r.size]...)
			pos = r.offset + r.size
		}
		d.ciphertext = append(d.ciphertext, f.media[pos:]...)
		aad, ct = d.aad, d.ciphertext
	}
	for _, m := range d.managers {
		gen := wrappedGeneration(m.oldest, f.nonce>>generationShift)
		if !m.canProcess(gen, f.nonce) {
			continue
		}
		c := m.cipherFor(gen, now, d.lim)
		if c == nil {
			continue
		}
		var plain []byte
		var err error
		plain, d.scratch, err = c.open(d.plain[:0], f.nonce, ct, f.tag, aad, d.scratch)
		if err != nil {
			continue
		}
		d.plain = plain
		m.reportSuccess(gen, f.nonce, now, d.lim)
		return d.reconstruct(dst, plain), nil
	}
	if len(d.managers) == 0 {
		return dst, ErrNoKey
	}
	return dst, ErrDecrypt
}

// reconstruct interleaves the clear ranges with the plaintext into dst.
func (d *FrameDecryptor) reconstruct(dst, plain []byte) []byte {
	f := &d.frame
	dst = slices.Grow(dst, len(f.media))
	pos, p := 0, 0
	for _, r := range f.ranges[:f.nrange] {
		n := r.offset - pos
		dst = append(dst, plain[p:p+n]...)
		dst = append(dst, f.media[r.offset:r.offset+r.size]...)
		p += n
		pos = r.offset + r.size
	}
	return append(dst, plain[p:]...)
}
