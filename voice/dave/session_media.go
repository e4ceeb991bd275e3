package dave

// Encryptor returns this member's frame encryptor. It is the same object for the session's
// lifetime; keys change inside it as transitions execute.
func (s *Session) Encryptor() *FrameEncryptor { return s.encryptor }

// EncryptFrame is Encryptor().Encrypt.
func (s *Session) EncryptFrame(codec Codec, dst, frame []byte) ([]byte, error) {
	return s.encryptor.Encrypt(codec, dst, frame)
}

// Decryptor returns the frame decryptor for a remote sender, creating it when the sender has
// none yet; it is stable until the sender leaves the group or disconnects.
func (s *Session) Decryptor(userID uint64) *FrameDecryptor {
	s.dmu.RLock()
	d := s.decryptors[userID]
	s.dmu.RUnlock()
	if d != nil {
		return d
	}
	s.dmu.Lock()
	defer s.dmu.Unlock()
	return s.decryptorLocked(userID)
}

// decryptorLocked returns or creates a decryptor; s.dmu must be held for writing.
func (s *Session) decryptorLocked(userID uint64) *FrameDecryptor {
	if d := s.decryptors[userID]; d != nil {
		return d
	}
	d := newFrameDecryptor(s.lim, s.cfg.Now)
	d.passthroughForever = s.passForever
	s.decryptors[userID] = d
	return d
}

// DecryptFrame decrypts a frame from userID, appending the media frame to dst. Senders
// without a decryptor get one in the session's current passthrough state.
func (s *Session) DecryptFrame(userID uint64, dst, frame []byte) ([]byte, error) {
	return s.Decryptor(userID).Decrypt(dst, frame)
}
