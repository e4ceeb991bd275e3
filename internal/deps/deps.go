// Package deps pins the project's chosen libraries in go.mod while the packages that use them are
// being written, so that parallel work never races on `go mod tidy`. It is removed once every
// library here is imported by real code.
package deps

import (
	_ "github.com/bwmarrin/discordgo"
	_ "github.com/coder/websocket"
	_ "github.com/lestrrat-go/jwx/v3/jwk"
	_ "github.com/lestrrat-go/jwx/v3/jwt"
	_ "github.com/pion/opus"
	_ "github.com/pion/rtp"
	_ "github.com/pion/rtp/codecs"
	_ "github.com/redis/go-redis/v9"
	_ "go.uber.org/goleak"
	_ "golang.org/x/crypto/chacha20poly1305"
	_ "golang.org/x/crypto/nacl/secretbox"
)
