// Command caddy is Caddy v2 with the standard modules and every Spell Coven module compiled in.
//
// It is the same binary that xcaddy.sh produces, buildable with plain `go build ./cmd/caddy`
// so that tests and the sandbox use exactly the versions pinned in go.mod.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/spellcoven/gateway"
)

func main() {
	caddycmd.Main()
}
