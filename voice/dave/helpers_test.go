package dave

import (
	"testing"

	"github.com/spellcoven/gateway/voice/dave/internal/mls"
)

func mustAddProposal(t testing.TB, kp []byte) *mls.Proposal {
	t.Helper()
	k, err := mls.DecodeKeyPackage(kp)
	if err != nil {
		t.Fatal(err)
	}
	return &mls.Proposal{Type: mls.ProposalAdd, Add: k}
}

func encodePublic(m *mls.PublicMessage) []byte { return mls.EncodePublicMessage(m) }
