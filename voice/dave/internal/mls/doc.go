// Package mls is the subset of Messaging Layer Security (RFC 9420) that Discord's DAVE protocol
// uses: ciphersuite 2 (DHKEM P-256, AES-128-GCM, SHA-256, ECDSA P-256), basic credentials,
// PublicMessage framing only, Add and Remove proposals sent by one external sender (the voice
// gateway), commits by reference with an UpdatePath when RFC 9420 requires one, Welcome messages
// with the ratchet tree inline, and the exporter.
//
// It is used by package dave (voice/dave): a DAVE session holds one [Group] and feeds it the
// gateway's proposals, commits and Welcomes; the gateway side signs proposals as an
// [ExternalSigner]. Nothing here does I/O or keeps a clock.
//
// Layers, bottom up: the TLS presentation codec ([Writer], [Reader]), array-based tree math,
// the ciphersuite's labelled primitives ([Suite]), the wire structures (credentials, leaf
// nodes, key packages, proposals, framing, Welcome), the ratchet tree with its tree and parent
// hashes, the key schedule and transcript hashes, and finally [Group], which creates, commits
// and joins.
package mls
