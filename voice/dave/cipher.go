package dave

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
)

// The media cipher of DAVE protocol version 1: AES-128-GCM with a 96-bit nonce made of 8 zero
// bytes and the 32-bit truncated nonce (little endian), and the tag truncated to 8 bytes.
// Go's GCM refuses tags shorter than 12 bytes, so sealing computes the full tag and keeps 8
// bytes; opening runs GCM's keystream over the ciphertext, seals the recovered plaintext again
// and compares the first 8 bytes of the recomputed tag in constant time.

const fullTagSize = 16

// errAuth reports a frame whose tag does not verify.
var errAuth = errors.New("dave: frame authentication failed")

// frameCipher is one generation's AES-GCM instance with reusable scratch space.
type frameCipher struct {
	aead  cipher.AEAD
	nonce [12]byte
}

func newFrameCipher(key []byte) (*frameCipher, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &frameCipher{aead: aead}, nil
}

func (c *frameCipher) setNonce(n uint32) {
	binary.LittleEndian.PutUint32(c.nonce[8:], n)
}

// seal appends the ciphertext of plaintext and the truncated tag to dst. dst must have room
// for len(plaintext)+16 more bytes to stay allocation-free.
func (c *frameCipher) seal(dst []byte, nonce uint32, plaintext, aad []byte) []byte {
	c.setNonce(nonce)
	out := c.aead.Seal(dst, c.nonce[:], plaintext, aad)
	return out[:len(out)-fullTagSize+tagSize]
}

// open appends the plaintext of ciphertext to dst after checking the truncated tag; scratch
// is reused across calls for the recomputed ciphertext and returned grown. On failure dst is
// returned unchanged.
func (c *frameCipher) open(dst []byte, nonce uint32, ciphertext, tag, aad, scratch []byte) ([]byte, []byte, error) {
	c.setNonce(nonce)
	start := len(dst)
	// GCM encryption is CTR mode: "sealing" the ciphertext XORs the same keystream back off.
	out := c.aead.Seal(dst, c.nonce[:], ciphertext, nil)
	out = out[:start+len(ciphertext)]
	check := c.aead.Seal(scratch[:0], c.nonce[:], out[start:], aad)
	if subtle.ConstantTimeCompare(check[len(check)-fullTagSize:len(check)-fullTagSize+tagSize], tag) != 1 {
		clear(out[start:])
		return dst, check, errAuth
	}
	return out, check, nil
}
