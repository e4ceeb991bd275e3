package mls

// ExternalSigner signs Add and Remove proposals as a group's external sender: the voice
// gateway's role in DAVE.
type ExternalSigner struct {
	key    *SigningKey
	sender ExternalSender
}

// NewExternalSigner returns a signer with key whose external_senders entry carries a basic
// credential with the given identity.
func NewExternalSigner(key *SigningKey, identity []byte) *ExternalSigner {
	return &ExternalSigner{
		key: key,
		sender: ExternalSender{
			SignatureKey: key.PublicKey(),
			Credential:   Credential{Type: CredentialTypeBasic, Identity: identity},
		},
	}
}

// ExternalSender returns the entry members put in their group's external_senders extension.
func (s *ExternalSigner) ExternalSender() ExternalSender { return s.sender }

// SignProposal frames p for the group in the given epoch as a PublicMessage from external
// sender 0 and signs it.
func (s *ExternalSigner) SignProposal(groupID []byte, epoch uint64, p *Proposal) (*PublicMessage, error) {
	m := &PublicMessage{Content: FramedContent{
		GroupID:     groupID,
		Epoch:       epoch,
		Sender:      Sender{Type: SenderExternal, Index: 0},
		ContentType: ContentProposal,
		Proposal:    p,
	}}
	if err := m.sign(s.key, nil); err != nil {
		return nil, err
	}
	return m, nil
}
