// Package gateway is the Spell Coven gateway: the Caddy modules of the edge, and the packages the edge
// and the worker share.
//
// Importing this package registers every Caddy module of the repository, which is what
// `xcaddy build --with github.com/spellcoven/gateway` relies on.
package gateway

import (
	_ "github.com/spellcoven/gateway/caddymodules/covenaccept"
	_ "github.com/spellcoven/gateway/caddymodules/covenapp"
	_ "github.com/spellcoven/gateway/caddymodules/covencors"
	_ "github.com/spellcoven/gateway/caddymodules/covenevents"
	_ "github.com/spellcoven/gateway/caddymodules/covenhealth"
	_ "github.com/spellcoven/gateway/caddymodules/covenhmac"
	_ "github.com/spellcoven/gateway/caddymodules/covenjwt"
	_ "github.com/spellcoven/gateway/caddymodules/covenmedia"
	_ "github.com/spellcoven/gateway/caddymodules/covenrooms"
	_ "github.com/spellcoven/gateway/caddymodules/covenws"
)
