package layout

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/spellcoven/gateway/"

// deps returns, for each package matching pattern, the packages it depends on.
func deps(t *testing.T, pattern string) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", pattern).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pattern, err)
	}
	m := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		m[fields[0]] = fields[1:]
	}
	return m
}

// forbidden returns the dependencies of pkgs that start with one of the prefixes.
func forbidden(all map[string][]string, prefixes ...string) []string {
	var bad []string
	for pkg, ds := range all {
		for _, d := range ds {
			for _, p := range prefixes {
				if d == strings.TrimSuffix(p, "/") || strings.HasPrefix(d, p) {
					bad = append(bad, pkg+" -> "+d)
				}
			}
		}
	}
	return bad
}

func TestWorkerLinksNeitherTheEdgeNorCaddy(t *testing.T) {
	all := deps(t, "../../cmd/coven-worker")
	if len(all) != 1 {
		t.Fatalf("go list found %d packages", len(all))
	}
	if bad := forbidden(all, module+"hub/", module+"rooms/", module+"caddymodules/", module+"stream/", "github.com/caddyserver/caddy/"); len(bad) > 0 {
		t.Fatalf("the worker's binary links:\n%s", strings.Join(bad, "\n"))
	}
}

func TestCorePackagesDoNotImportTheModules(t *testing.T) {
	for _, pattern := range []string{"../../hub/...", "../../auth/...", "../../webhook/...", "../../event/...", "../../stream/...", "../../worker/...", "../../roomowner/..."} {
		all := deps(t, pattern)
		if len(all) == 0 {
			t.Fatalf("go list %s found nothing", pattern)
		}
		if bad := forbidden(all, module+"caddymodules/", "github.com/caddyserver/caddy/"); len(bad) > 0 {
			t.Errorf("%s imports Caddy or its modules:\n%s", pattern, strings.Join(bad, "\n"))
		}
	}
}

// TestEdgeLinksNoMedia: the edge signals table view's sessions; the media, the voice client and
// the Discord gateway library belong to the worker.
func TestEdgeLinksNoMedia(t *testing.T) {
	all := deps(t, "../../caddymodules/...")
	if bad := forbidden(all, module+"voice", module+"relay", module+"worker/voicectl", "github.com/pion/webrtc/", "github.com/bwmarrin/discordgo"); len(bad) > 0 {
		t.Fatalf("the edge's modules link:\n%s", strings.Join(bad, "\n"))
	}
}

// TestToolsLinkNoTestHelpers: the shipped load tool and sandbox run the stack's processes through
// internal/proc and internal/edgeproc, not through the tests' harness of real edges.
func TestToolsLinkNoTestHelpers(t *testing.T) {
	for _, pkg := range []string{"../../cmd/coven-bench", "../../cmd/coven-sandbox"} {
		all := deps(t, pkg)
		if bad := forbidden(all, module+"internal/edgetest", module+"tests/"); len(bad) > 0 {
			t.Errorf("%s links:\n%s", pkg, strings.Join(bad, "\n"))
		}
	}
}
