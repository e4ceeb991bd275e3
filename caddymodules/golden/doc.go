// Package golden holds the golden tests of the modules' Caddyfile forms: each file of testdata/ is
// adapted to Caddy's JSON and compared with its .json beside it, so that a change to a directive's
// syntax or to what it produces shows in review without starting a process. Regenerate with
// `go test ./caddymodules/golden -update` and read the diff.
package golden
