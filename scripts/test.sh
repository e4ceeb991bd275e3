#!/usr/bin/env bash
# Runs the whole test suite. Installs what the tests need when it is missing (Debian packages and npm
# modules), so it works the same on a fresh machine and in CI.
set -euo pipefail
cd "$(dirname "$0")/.."

export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

# redis-server, for the tests of edges sharing Redis (each test starts its own on a port it picks).
if ! command -v redis-server >/dev/null; then
	echo "test.sh: installing redis-server"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi

# Headless Chromium, for the browser tests of the demo page (tests/browser).
if [ ! -x /usr/bin/chromium ]; then
	echo "test.sh: installing chromium"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

# Node modules of the independent clients the tests drive (pinned by package-lock.json).
for dir in $(git ls-files '*package-lock.json' | xargs -r -n1 dirname); do
	if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
		echo "test.sh: npm ci in $dir"
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
	fi
done

go vet ./...
# The core packages once more under the race detector: cheap for them, unlike for what links Caddy.
go test -race -count=1 -timeout 10m "$@" ./event/... ./webhook/... ./auth/... ./hub/... ./stream/... ./worker/... ./rooms/... ./voice/...
go test -count=1 -timeout 25m "$@" ./...
