package golden

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/spellcoven/gateway" // every module of the gateway
)

var update = flag.Bool("update", false, "rewrite the golden .json files")

func TestCaddyfilesAdaptToTheGoldenJSON(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.caddyfile")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no testdata/*.caddyfile: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			out, warnings, err := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}.Adapt(src, nil)
			if err != nil {
				t.Fatalf("adapting: %v", err)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings: %v", warnings)
			}
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, out, "", "\t"); err != nil {
				t.Fatal(err)
			}
			pretty.WriteByte('\n')
			golden := strings.TrimSuffix(in, ".caddyfile") + ".json"
			if *update {
				if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./caddymodules/golden -update)", err)
			}
			if !bytes.Equal(pretty.Bytes(), want) {
				t.Errorf("%s adapts to\n%s\nwhich differs from %s (if the change is meant, run go test ./caddymodules/golden -update and review the diff)", in, pretty.Bytes(), golden)
			}
		})
	}
}
