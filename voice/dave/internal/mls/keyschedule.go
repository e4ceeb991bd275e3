package mls

// epochSecrets are the secrets of one epoch that DAVE uses (RFC 9420 Section 8). The sender
// data and encryption secrets protect PrivateMessages, which DAVE never sends, so they are
// not derived.
type epochSecrets struct {
	exporter      []byte
	confirmation  []byte
	membership    []byte
	authenticator []byte
	init          []byte
}

// pskSecret is the psk_secret of an epoch without pre-shared keys: Nh zero bytes.
var pskSecret = make([]byte, hashSize)

// joinerSecret derives joiner_secret from the previous epoch's init_secret, the commit secret
// and the new epoch's serialized GroupContext.
func joinerSecret(initSecret, commitSecret, groupContext []byte) []byte {
	return ExpandWithLabel(extract(initSecret, commitSecret), "joiner", groupContext, hashSize)
}

// epochFromJoiner runs the rest of the key schedule from joiner_secret.
func epochFromJoiner(joiner, groupContext []byte) epochSecrets {
	epoch := ExpandWithLabel(extract(joiner, pskSecret), "epoch", groupContext, hashSize)
	return epochFromSecret(epoch)
}

// epochFromSecret derives an epoch's secrets from epoch_secret (a group's creator draws its
// epoch 0 secret at random).
func epochFromSecret(epoch []byte) epochSecrets {
	return epochSecrets{
		exporter:      DeriveSecret(epoch, "exporter"),
		confirmation:  DeriveSecret(epoch, "confirm"),
		membership:    DeriveSecret(epoch, "membership"),
		authenticator: DeriveSecret(epoch, "authentication"),
		init:          DeriveSecret(epoch, "init"),
	}
}

// welcomeKeys derives the key and nonce that encrypt a Welcome's GroupInfo.
func welcomeKeys(joiner []byte) (key, nonce []byte) {
	welcome := DeriveSecret(extract(joiner, pskSecret), "welcome")
	return ExpandWithLabel(welcome, "key", nil, aeadKeySize), ExpandWithLabel(welcome, "nonce", nil, aeadNonceLen)
}

// export is MLS-Exporter(label, context, length).
func (e *epochSecrets) export(label string, context []byte, length int) []byte {
	return ExpandWithLabel(DeriveSecret(e.exporter, label), "exported", hashBytes(context), length)
}

// transcript holds the confirmed and interim transcript hashes (RFC 9420 Section 8.2).
type transcript struct {
	confirmed []byte
	interim   []byte
}

// confirm returns the confirmed transcript hash after a commit: Hash(interim ||
// ConfirmedTranscriptHashInput).
func (t transcript) confirm(commitInput []byte) []byte {
	return hashBytes(t.interim, commitInput)
}

// interimHash is Hash(confirmed || InterimTranscriptHashInput{confirmation_tag}).
func interimHash(confirmed, confirmationTag []byte) []byte {
	w := NewWriter(nil)
	w.Opaque(confirmationTag)
	return hashBytes(confirmed, w.Bytes())
}
