package mls

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
)

// CipherSuite identifies an MLS ciphersuite. DAVE protocol version 1 uses only
// MLS_128_DHKEMP256_AES128GCM_SHA256_P256.
type CipherSuite uint16

// CipherSuiteP256 is MLS_128_DHKEMP256_AES128GCM_SHA256_P256 (RFC 9420 Section 17.1), the
// only ciphersuite this package implements.
const CipherSuiteP256 CipherSuite = 2

// ProtocolVersionMLS10 is MLS 1.0 on the wire.
const ProtocolVersionMLS10 uint16 = 1

// Sizes of the ciphersuite's primitives.
const (
	hashSize     = sha256.Size // KDF.Nh and the hash output
	aeadKeySize  = 16          // AEAD.Nk
	aeadNonceLen = 12          // AEAD.Nn
)

var (
	kem  = hpke.DHKEM(ecdh.P256())
	kdf  = hpke.HKDFSHA256()
	aead = hpke.AES128GCM()
)

// ErrSignature reports a signature that does not verify.
var ErrSignature = errors.New("mls: invalid signature")

// hashBytes is the suite's hash function.
func hashBytes(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// mac is the suite's MAC: HMAC-SHA256.
func mac(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// verifyMAC compares a received MAC with the expected one in constant time.
func verifyMAC(key, data, tag []byte) bool {
	return hmac.Equal(mac(key, data), tag)
}

// extract is HKDF-Extract(salt, ikm). An empty salt means Nh zero bytes (RFC 5869).
func extract(salt, ikm []byte) []byte {
	if len(salt) == 0 {
		salt = make([]byte, hashSize)
	}
	return mac(salt, ikm)
}

// expand is HKDF-Expand written out over HMAC: Go's crypto/hkdf may refuse pseudorandom keys
// shorter than the hash, and DAVE's sender ratchet feeds it 16-byte secrets (as MLS++ and
// libdave do).
func expand(prk, info []byte, length int) []byte {
	out := make([]byte, 0, length+hashSize)
	var t []byte
	for i := byte(1); len(out) < length; i++ {
		m := hmac.New(sha256.New, prk)
		m.Write(t)
		m.Write(info)
		m.Write([]byte{i})
		t = m.Sum(nil)
		out = append(out, t...)
	}
	return out[:length]
}

// ExpandWithLabel is RFC 9420's ExpandWithLabel(secret, label, context, length), the label
// prefixed with "MLS 1.0 ".
func ExpandWithLabel(secret []byte, label string, context []byte, length int) []byte {
	w := NewWriter(make([]byte, 0, 16+len(label)+len(context)))
	w.Uint16(uint16(length))
	w.Varint(len("MLS 1.0 ") + len(label))
	w.Raw([]byte("MLS 1.0 "))
	w.Raw([]byte(label))
	w.Opaque(context)
	return expand(secret, w.Bytes(), length)
}

// DeriveSecret is ExpandWithLabel(secret, label, "", Nh).
func DeriveSecret(secret []byte, label string) []byte {
	return ExpandWithLabel(secret, label, nil, hashSize)
}

// DeriveTreeSecret is ExpandWithLabel(secret, label, uint32 generation, length), the
// derivation of RFC 9420's secret tree ratchets and of DAVE's sender key ratchet.
func DeriveTreeSecret(secret []byte, label string, generation uint32, length int) []byte {
	ctx := []byte{byte(generation >> 24), byte(generation >> 16), byte(generation >> 8), byte(generation)}
	return ExpandWithLabel(secret, label, ctx, length)
}

// refHash is RefHash(label, value) = Hash(RefHashInput{label, value}).
func refHash(label string, value []byte) []byte {
	w := NewWriter(nil)
	w.Opaque([]byte(label))
	w.Opaque(value)
	return hashBytes(w.Bytes())
}

// signContent encodes SignContent{"MLS 1.0 " + label, content}.
func signContent(label string, content []byte) []byte {
	w := NewWriter(make([]byte, 0, len(content)+40))
	w.Opaque([]byte("MLS 1.0 " + label))
	w.Opaque(content)
	return w.Bytes()
}

// SigningKey is an ECDSA P-256 signature key pair: a member's identity in its leaf node, or
// the external sender's.
type SigningKey struct {
	priv *ecdsa.PrivateKey
	pub  []byte // uncompressed SEC1 point, as MLS carries SignaturePublicKey
}

// GenerateSigningKey creates a fresh P-256 signature key.
func GenerateSigningKey() (*SigningKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return newSigningKey(priv)
}

// ParseSigningKey loads a P-256 private scalar in its 32-byte big-endian form.
func ParseSigningKey(raw []byte) (*SigningKey, error) {
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), raw)
	if err != nil {
		return nil, fmt.Errorf("mls: signing key: %w", err)
	}
	return newSigningKey(priv)
}

func newSigningKey(priv *ecdsa.PrivateKey) (*SigningKey, error) {
	pub, err := priv.PublicKey.Bytes()
	if err != nil {
		return nil, err
	}
	return &SigningKey{priv: priv, pub: pub}, nil
}

// PublicKey returns the uncompressed public point.
func (k *SigningKey) PublicKey() []byte { return k.pub }

// signWithLabel is SignWithLabel: ECDSA over SHA-256 of SignContent, DER-encoded.
func (k *SigningKey) signWithLabel(label string, content []byte) ([]byte, error) {
	digest := sha256.Sum256(signContent(label, content))
	return ecdsa.SignASN1(rand.Reader, k.priv, digest[:])
}

// verifyWithLabel is VerifyWithLabel for a public key in uncompressed form.
func verifyWithLabel(pub []byte, label string, content, sig []byte) error {
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pub)
	if err != nil {
		return fmt.Errorf("mls: signature key: %w", err)
	}
	digest := sha256.Sum256(signContent(label, content))
	if !ecdsa.VerifyASN1(key, digest[:], sig) {
		return ErrSignature
	}
	return nil
}

// HPKECiphertext is RFC 9420's HPKECiphertext.
type HPKECiphertext struct {
	KEMOutput  []byte
	Ciphertext []byte
}

func (c *HPKECiphertext) encode(w *Writer) {
	w.Opaque(c.KEMOutput)
	w.Opaque(c.Ciphertext)
}

func (c *HPKECiphertext) decode(r *Reader) {
	c.KEMOutput = r.Opaque()
	c.Ciphertext = r.Opaque()
}

// encryptContext encodes EncryptContext{"MLS 1.0 " + label, context}, HPKE's info.
func encryptContext(label string, context []byte) []byte {
	w := NewWriter(nil)
	w.Opaque([]byte("MLS 1.0 " + label))
	w.Opaque(context)
	return w.Bytes()
}

// encryptWithLabel is EncryptWithLabel: HPKE base mode to an encryption public key.
func encryptWithLabel(pub []byte, label string, context, plaintext []byte) (HPKECiphertext, error) {
	pk, err := kem.NewPublicKey(pub)
	if err != nil {
		return HPKECiphertext{}, fmt.Errorf("mls: encryption key: %w", err)
	}
	enc, sender, err := hpke.NewSender(pk, kdf, aead, encryptContext(label, context))
	if err != nil {
		return HPKECiphertext{}, err
	}
	ct, err := sender.Seal(nil, plaintext)
	if err != nil {
		return HPKECiphertext{}, err
	}
	return HPKECiphertext{KEMOutput: enc, Ciphertext: ct}, nil
}

// decryptWithLabel is DecryptWithLabel.
func decryptWithLabel(priv hpke.PrivateKey, label string, context []byte, ct HPKECiphertext) ([]byte, error) {
	rcpt, err := hpke.NewRecipient(ct.KEMOutput, priv, kdf, aead, encryptContext(label, context))
	if err != nil {
		return nil, fmt.Errorf("mls: hpke: %w", err)
	}
	pt, err := rcpt.Open(nil, ct.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("mls: hpke: %w", err)
	}
	return pt, nil
}

// HPKEKey is an HPKE key pair: a leaf's or a parent node's encryption key, or a key package's
// init key.
type HPKEKey struct {
	priv hpke.PrivateKey
	pub  []byte
}

// generateHPKEKey creates a fresh HPKE key pair.
func generateHPKEKey() (*HPKEKey, error) {
	priv, err := kem.GenerateKey()
	if err != nil {
		return nil, err
	}
	return &HPKEKey{priv: priv, pub: priv.PublicKey().Bytes()}, nil
}

// deriveHPKEKey is KEM.DeriveKeyPair(node_secret), how path secrets become node keys.
func deriveHPKEKey(secret []byte) (*HPKEKey, error) {
	priv, err := kem.DeriveKeyPair(secret)
	if err != nil {
		return nil, err
	}
	return &HPKEKey{priv: priv, pub: priv.PublicKey().Bytes()}, nil
}

// PublicKey returns the serialized HPKE public key.
func (k *HPKEKey) PublicKey() []byte { return k.pub }

// aeadSeal and aeadOpen are the suite's AEAD (AES-128-GCM) with an explicit key and nonce,
// for the Welcome's encrypted GroupInfo.
func aeadSeal(key, nonce, aad, plaintext []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return g.Seal(nil, nonce, plaintext, aad), nil
}

func aeadOpen(key, nonce, aad, ciphertext []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	pt, err := g.Open(nil, nonce, ciphertext, aad)
	if err != nil {
		return nil, errors.New("mls: cannot decrypt the group info")
	}
	return pt, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// equalBytes compares public values (keys, hashes); secret comparisons use hmac.Equal.
func equalBytes(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
