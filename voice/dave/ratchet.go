package dave

import (
	"encoding/binary"
	"errors"

	"github.com/spellcoven/gateway/voice/dave/internal/mls"
)

// senderKeyLabel is the MLS exporter label of DAVE's per-sender base secrets.
const senderKeyLabel = "Discord Secure Frames v0"

// keySize is the AES-128-GCM key size of DAVE protocol version 1.
const keySize = 16

// senderBaseSecret is MLS-Exporter("Discord Secure Frames v0", LE64(userID), 16).
func senderBaseSecret(g *mls.Group, userID uint64) []byte {
	return g.Export(senderKeyLabel, binary.LittleEndian.AppendUint64(nil, userID), keySize)
}

// errKeyErased reports a generation whose key the ratchet no longer has.
var errKeyErased = errors.New("dave: key generation already erased")

// keyRatchet is a sender's hash ratchet (whitepaper "Sender Key Derivation"), derived like
// MLS's secret tree ratchets: generation g's key is DeriveTreeSecret(secret_g, "key", g, 16)
// and secret_{g+1} is DeriveTreeSecret(secret_g, "secret", g, 32). Keys stay cached until
// erased.
type keyRatchet struct {
	nextSecret     []byte
	nextGeneration uint32
	keys           map[uint32][]byte
}

func newKeyRatchet(base []byte) *keyRatchet {
	return &keyRatchet{nextSecret: base, keys: map[uint32][]byte{}}
}

// key returns generation gen's key, ratcheting forward as needed.
func (r *keyRatchet) key(gen uint32) ([]byte, error) {
	if k, ok := r.keys[gen]; ok {
		return k, nil
	}
	if gen < r.nextGeneration {
		return nil, errKeyErased
	}
	for r.nextGeneration <= gen {
		g := r.nextGeneration
		r.keys[g] = mls.DeriveTreeSecret(r.nextSecret, "key", g, keySize)
		r.nextSecret = mls.DeriveTreeSecret(r.nextSecret, "secret", g, 32)
		r.nextGeneration++
		if r.nextGeneration == 0 { // wrapped: no further generations exist
			break
		}
	}
	return r.keys[gen], nil
}

// erase forgets generation gen's key.
func (r *keyRatchet) erase(gen uint32) { delete(r.keys, gen) }
