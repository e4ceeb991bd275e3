// Package browser holds the browser tests: the sandbox's demo page (web/) driven in real headless
// Chromium against the whole stack that `go run ./cmd/coven-sandbox` runs (package sandbox): the
// emulated Discord, the worker and the edge serving the page over TLS. They follow a newcomer's
// path — sign in, create a room, make an emulated user join — and check that the page keeps
// showing exactly what Discord holds through an edge killed and restarted and through token
// expiry. A screenshot of the page is written to artifacts/.
//
// They need /usr/bin/chromium (Debian package chromium; scripts/test.sh installs it).
package browser
