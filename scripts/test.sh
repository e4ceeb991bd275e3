#!/usr/bin/env bash
# Runs the whole test suite. Installs what the tests need when it is missing (Debian packages and npm
# modules), so it works the same on a fresh machine and in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

# Debian packages are installed with apt-get, which needs root: through sudo when not root.
apt_install() {
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null; then
			echo "test.sh: $1 is missing and installing it needs root (or sudo): apt-get install $1" >&2
			exit 1
		fi
		sudo=(sudo)
	fi
	echo "test.sh: installing $1"
	"${sudo[@]}" apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1" >/dev/null
}

# redis-server, for the tests of edges sharing Redis (each test starts its own on a port it picks).
if ! command -v redis-server >/dev/null; then
	apt_install redis-server
fi

# Headless Chromium, for the browser tests of the demo page (tests/browser).
if [ ! -x /usr/bin/chromium ]; then
	apt_install chromium
fi

# Node modules of the independent clients the tests drive (pinned by package-lock.json).
for dir in $(git ls-files '*package-lock.json' | xargs -r -n1 dirname); do
	if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
		echo "test.sh: npm ci in $dir"
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
	fi
done

go vet ./...
(cd tests/browser && go vet ./...)
# The core packages once more under the race detector: cheap for them, unlike for what links Caddy.
go test -race -count=1 -timeout 10m "$@" ./event/... ./webhook/... ./auth/... ./hub/... ./stream/... ./worker/... ./rooms/... ./voice/...
go test -count=1 -timeout 25m "$@" ./...
# The browser tests are a module of their own (their Chromium driver stays out of the gateway's
# dependencies): ./... above does not reach them.
(cd tests/browser && go test -count=1 -timeout 15m "$@" ./...)
