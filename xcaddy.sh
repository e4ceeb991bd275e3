#!/usr/bin/env bash
# Builds ./caddy: Caddy with the standard modules and every Spell Coven module, with xcaddy.
# Installs xcaddy from the Go module proxy when it is missing.
#
#   ./xcaddy.sh                 # builds ./caddy
#   OUTPUT=/usr/local/bin/caddy ./xcaddy.sh
#
# `go build ./cmd/caddy` produces the same modules with the versions pinned in go.mod; this script is
# the path for people who add other plugins with --with (pass extra xcaddy arguments after the script).
set -euo pipefail
cd "$(dirname "$0")"

CADDY_VERSION="${CADDY_VERSION:-v2.11.9}"
XCADDY_VERSION="${XCADDY_VERSION:-v0.4.5}"
OUTPUT="${OUTPUT:-./caddy}"

if ! command -v xcaddy >/dev/null 2>&1; then
	echo "xcaddy.sh: installing xcaddy $XCADDY_VERSION" >&2
	go install "github.com/caddyserver/xcaddy/cmd/xcaddy@$XCADDY_VERSION"
	PATH="$(go env GOPATH)/bin:$PATH"
fi

XCADDY_SKIP_CLEANUP=0 xcaddy build "$CADDY_VERSION" \
	--output "$OUTPUT" \
	--with "github.com/spellcoven/gateway@v0.0.0=." \
	"$@"
"$OUTPUT" list-modules | grep -E '^(coven|http\.handlers\.coven_|http\.authentication\.providers\.coven_)' >&2
