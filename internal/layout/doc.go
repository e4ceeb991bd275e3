// Package layout holds the test of the repository's import rules (docs/architecture.md, "Import
// rules"): the worker's binary links neither the edge's packages nor Caddy, and the core packages do
// not import the Caddy modules.
package layout
