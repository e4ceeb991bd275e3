package voice

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/nacl/secretbox"
)

// Mode is a transport encryption mode, named as the voice gateway names it in Ready and Select
// Protocol.
type Mode string

// The transport encryption modes this package implements.
const (
	// ModeAES256GCM is aead_aes256_gcm_rtpsize: AES-256-GCM with a 12-byte nonce made of the
	// 4-byte packet counter and 8 zero bytes. Preferred when the server offers it.
	ModeAES256GCM Mode = "aead_aes256_gcm_rtpsize"
	// ModeXChaCha20Poly1305 is aead_xchacha20_poly1305_rtpsize: XChaCha20-Poly1305 with a
	// 24-byte nonce made of the counter and 20 zero bytes. Discord always offers it.
	ModeXChaCha20Poly1305 Mode = "aead_xchacha20_poly1305_rtpsize"
	// ModeXSalsa20Poly1305 is the legacy xsalsa20_poly1305 (NaCl secretbox, the 12-byte RTP
	// header as nonce). Discord discontinued it on 2024-11-18; it is used only when
	// Config.AllowLegacyEncryption asks for it, for old servers and emulators.
	ModeXSalsa20Poly1305 Mode = "xsalsa20_poly1305"
)

// KeySize is the length of a session's secret key, for every mode.
const KeySize = 32

// Per-packet overheads of the *_rtpsize modes: the AEAD tag and the 4-byte nonce counter that
// trail the ciphertext.
const (
	aeadTagSize      = 16
	nonceCounterSize = 4
)

// ErrDecrypt means a packet failed authentication: wrong key, wrong mode, or a forged or
// damaged packet.
var ErrDecrypt = errors.New("voice: packet authentication failed")

// Supported reports whether this package implements m.
func (m Mode) Supported() bool {
	switch m {
	case ModeAES256GCM, ModeXChaCha20Poly1305, ModeXSalsa20Poly1305:
		return true
	}
	return false
}

// rtpsize reports whether m is one of the AEAD modes that keep the header, CSRCs and extension
// preamble in clear and append a 4-byte nonce counter.
func (m Mode) rtpsize() bool { return m == ModeAES256GCM || m == ModeXChaCha20Poly1305 }

// DefaultModes is the order of preference when Config.Modes is empty: AES-GCM first (hardware
// accelerated and what Discord recommends), XChaCha20-Poly1305 second.
var DefaultModes = []Mode{ModeAES256GCM, ModeXChaCha20Poly1305}

// ErrNoCommonMode is returned (wrapped) by ChooseMode, and so by Dial, when the server offers
// no transport encryption mode the client accepts.
var ErrNoCommonMode = errors.New("voice: no common encryption mode")

// ChooseMode picks the first mode of preferred that the server offers. The legacy mode is
// chosen only when it is listed in preferred, which Config does only on explicit opt-in.
func ChooseMode(offered []string, preferred []Mode) (Mode, error) {
	for _, m := range preferred {
		if m.Supported() && slices.Contains(offered, string(m)) {
			return m, nil
		}
	}
	return "", fmt.Errorf("%w: server offers %q, client accepts %q", ErrNoCommonMode, offered, preferred)
}

// newAEAD returns the AEAD of an *_rtpsize mode.
func newAEAD(mode Mode, key []byte) (cipher.AEAD, error) {
	switch mode {
	case ModeAES256GCM:
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(block)
	case ModeXChaCha20Poly1305:
		return chacha20poly1305.NewX(key)
	}
	return nil, fmt.Errorf("voice: mode %q is not an AEAD mode", mode)
}

// transportKey holds what Sealer and Opener share: the mode, the AEAD (reused for every packet)
// and a nonce buffer whose unused tail stays zero.
type transportKey struct {
	mode  Mode
	aead  cipher.AEAD
	key   [KeySize]byte
	nonce [24]byte
}

func (k *transportKey) init(mode Mode, key []byte) error {
	if !mode.Supported() {
		return fmt.Errorf("voice: unsupported encryption mode %q", mode)
	}
	if len(key) != KeySize {
		return fmt.Errorf("voice: secret key is %d bytes, want %d", len(key), KeySize)
	}
	k.mode = mode
	copy(k.key[:], key)
	if mode.rtpsize() {
		aead, err := newAEAD(mode, key)
		if err != nil {
			return fmt.Errorf("voice: %s: %w", mode, err)
		}
		k.aead = aead
	}
	return nil
}

// Sealer encrypts outgoing RTP packets for one session. It keeps the packet counter, so one
// Sealer serves one sender at a time; it is not safe for concurrent use.
type Sealer struct {
	transportKey
	counter uint32
	scratch []byte // legacy mode: secretbox cannot seal in place
}

// NewSealer returns a Sealer for mode with the session's 32-byte secret key.
func NewSealer(mode Mode, key []byte) (*Sealer, error) {
	s := &Sealer{}
	if err := s.init(mode, key); err != nil {
		return nil, err
	}
	return s, nil
}

// Mode is the Sealer's encryption mode.
func (s *Sealer) Mode() Mode { return s.mode }

// SetCounter sets the nonce counter the next packet uses; it then increases by one per packet
// and wraps at 2^32.
func (s *Sealer) SetCounter(c uint32) { s.counter = c }

// Overhead is how many bytes Seal adds to header and payload.
func (s *Sealer) Overhead() int {
	if s.mode.rtpsize() {
		return aeadTagSize + nonceCounterSize
	}
	return secretbox.Overhead
}

// Seal appends the encrypted packet to dst and returns it. header is the whole RTP header: the
// fixed 12 bytes, the CSRCs and, with X set, the extension preamble and body. In the *_rtpsize
// modes the fixed header, CSRCs and preamble stay in clear as associated data, the extension
// body and payload are encrypted, and the tag and the counter follow. With enough capacity in
// dst, Seal allocates nothing.
func (s *Sealer) Seal(dst, header, payload []byte) ([]byte, error) {
	h, err := ParseRTPHeader(header)
	if err != nil {
		return dst, err
	}
	clearLen := h.ClearLen()
	if len(header) != clearLen+h.ExtensionBodyLen() {
		return dst, fmt.Errorf("%w: header is %d bytes, its fields say %d", ErrBadExtension, len(header), clearLen+h.ExtensionBodyLen())
	}
	if !s.mode.rtpsize() {
		return s.sealLegacy(dst, header, payload), nil
	}
	start := len(dst)
	out := append(dst, header...)
	out = append(out, payload...)
	binary.BigEndian.PutUint32(s.nonce[:4], s.counter)
	aad := out[start : start+clearLen]
	out = s.aead.Seal(out[:start+clearLen], s.nonce[:s.aead.NonceSize()], out[start+clearLen:], aad)
	out = binary.BigEndian.AppendUint32(out, s.counter)
	s.counter++
	return out, nil
}

// rtcpHeaderSize is the part of an RTCP packet left in clear as associated data: the first
// header word and the sender's SSRC.
const rtcpHeaderSize = 8

// ErrRTCPMode means RTCP was asked for in the legacy mode, which the client does not send it in.
var ErrRTCPMode = errors.New("voice: RTCP is sealed in the *_rtpsize modes only")

// SealRTCP appends an encrypted RTCP compound packet to dst, as Discord's clients send it in
// the *_rtpsize modes: the first 8 bytes (header and sender SSRC) in clear as associated data,
// the rest encrypted, then the tag and the 4-byte nonce counter, shared with RTP.
func (s *Sealer) SealRTCP(dst, packet []byte) ([]byte, error) {
	if !s.mode.rtpsize() {
		return dst, ErrRTCPMode
	}
	if len(packet) < rtcpHeaderSize || !IsRTCP(packet) {
		return dst, ErrShortPacket
	}
	start := len(dst)
	out := append(dst, packet...)
	binary.BigEndian.PutUint32(s.nonce[:4], s.counter)
	aad := out[start : start+rtcpHeaderSize]
	out = s.aead.Seal(out[:start+rtcpHeaderSize], s.nonce[:s.aead.NonceSize()], out[start+rtcpHeaderSize:], aad)
	out = binary.BigEndian.AppendUint32(out, s.counter)
	s.counter++
	return out, nil
}

// OpenRTCP authenticates and decrypts an RTCP packet sealed by SealRTCP, appending the clear
// compound packet (header included) to dst.
func (o *Opener) OpenRTCP(dst, packet []byte) ([]byte, error) {
	if !o.mode.rtpsize() {
		return dst, ErrRTCPMode
	}
	if !IsRTCP(packet) || len(packet) < rtcpHeaderSize+aeadTagSize+nonceCounterSize {
		return dst, ErrShortPacket
	}
	end := len(packet) - nonceCounterSize
	copy(o.nonce[:nonceCounterSize], packet[end:])
	out := append(dst, packet[:rtcpHeaderSize]...)
	out, err := o.aead.Open(out, o.nonce[:o.aead.NonceSize()], packet[rtcpHeaderSize:end], packet[:rtcpHeaderSize])
	if err != nil {
		return dst, ErrDecrypt
	}
	return out, nil
}

// sealLegacy is xsalsa20_poly1305: the fixed header in clear and as the nonce, everything after
// it (CSRCs, extension, payload) in the secretbox.
func (s *Sealer) sealLegacy(dst, header, payload []byte) []byte {
	copy(s.nonce[:rtpHeaderSize], header[:rtpHeaderSize])
	clear(s.nonce[rtpHeaderSize:])
	s.scratch = append(append(s.scratch[:0], header[rtpHeaderSize:]...), payload...)
	out := append(dst, header[:rtpHeaderSize]...)
	return secretbox.Seal(out, s.scratch, &s.nonce, &s.key)
}

// Packet is a decrypted RTP packet. Its slices point into the buffer given to Open.
type Packet struct {
	RTPHeader
	// ExtensionBody is the decrypted header extension body (nil without an extension).
	ExtensionBody []byte
	// Payload is the media payload, padding removed.
	Payload []byte
}

// Opener decrypts incoming RTP packets for one session. It is not safe for concurrent use.
type Opener struct {
	transportKey
}

// NewOpener returns an Opener for mode with the session's 32-byte secret key.
func NewOpener(mode Mode, key []byte) (*Opener, error) {
	o := &Opener{}
	if err := o.init(mode, key); err != nil {
		return nil, err
	}
	return o, nil
}

// Mode is the Opener's encryption mode.
func (o *Opener) Mode() Mode { return o.mode }

// Open authenticates and decrypts packet into dst's storage (dst[:0] is appended to; give it
// the capacity of the largest packet to allocate nothing) and parses it. It takes the nonce
// counter from the packet's last 4 bytes as they are, drops the decrypted extension body from
// the payload and honours the P bit. RTCP gives ErrRTCP; a packet that fails authentication,
// ErrDecrypt. packet itself is not modified.
func (o *Opener) Open(dst, packet []byte) (Packet, error) {
	if !o.mode.rtpsize() {
		return o.openLegacy(dst, packet)
	}
	var p Packet
	h, err := ParseRTPHeader(packet)
	if err != nil {
		return p, err
	}
	clearLen := h.ClearLen()
	if len(packet) < clearLen+aeadTagSize+nonceCounterSize {
		return p, ErrShortPacket
	}
	end := len(packet) - nonceCounterSize
	copy(o.nonce[:nonceCounterSize], packet[end:])
	plain, err := o.aead.Open(dst[:0], o.nonce[:o.aead.NonceSize()], packet[clearLen:end], packet[:clearLen])
	if err != nil {
		return p, ErrDecrypt
	}
	return finishOpen(h, plain)
}

// openLegacy is xsalsa20_poly1305: the CSRCs and extension are inside the secretbox, so the
// header past its fixed 12 bytes is parsed after decryption.
func (o *Opener) openLegacy(dst, packet []byte) (Packet, error) {
	var p Packet
	if len(packet) < rtpHeaderSize+secretbox.Overhead {
		if IsRTCP(packet) {
			return p, ErrRTCP
		}
		return p, ErrShortPacket
	}
	h, err := parseFixedHeader(packet)
	if err != nil {
		return p, err
	}
	copy(o.nonce[:rtpHeaderSize], packet[:rtpHeaderSize])
	clear(o.nonce[rtpHeaderSize:])
	plain, ok := secretbox.Open(dst[:0], packet[rtpHeaderSize:], &o.nonce, &o.key)
	if !ok {
		return p, ErrDecrypt
	}
	// Re-read CSRC count and extension preamble from the plaintext.
	n := 4 * h.CSRCCount
	if len(plain) < n {
		return p, ErrShortPacket
	}
	plain = plain[n:]
	h.ExtensionWords, h.ExtensionProfile = 0, 0
	if h.Extension {
		if len(plain) < 4 {
			return p, ErrShortPacket
		}
		h.ExtensionProfile = binary.BigEndian.Uint16(plain)
		h.ExtensionWords = int(binary.BigEndian.Uint16(plain[2:]))
		plain = plain[4:]
	}
	return finishOpen(h, plain)
}

// finishOpen splits the decrypted extension body from the payload and strips padding.
func finishOpen(h RTPHeader, plain []byte) (Packet, error) {
	p := Packet{RTPHeader: h}
	ext := h.ExtensionBodyLen()
	if ext > len(plain) {
		return p, ErrBadExtension
	}
	if h.Extension {
		p.ExtensionBody = plain[:ext]
	}
	payload, err := stripPadding(&h, plain[ext:])
	if err != nil {
		return p, err
	}
	p.Payload = payload
	return p, nil
}
