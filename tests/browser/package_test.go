package browser

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPackageInChromium imports the npm package of the browser client, as packed for publishing, in
// Chromium by its name (through an import map, as a bundler-free page would): the module and the one
// it imports load, and a client can be made.
func TestPackageInChromium(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pack := exec.CommandContext(ctx, "npm", "pack", "--json", "--pack-destination", dir)
	pack.Dir = "../../web"
	out, err := pack.Output()
	if err != nil {
		t.Fatalf("npm pack: %v\n%s", err, out)
	}
	var packed []struct {
		Filename string `json:"filename"`
	}
	if err := json.Unmarshal(out, &packed); err != nil || len(packed) != 1 {
		t.Fatalf("npm pack --json: %v %s", err, out)
	}
	root := filepath.Join(dir, "site")
	untar(t, filepath.Join(dir, packed[0].Filename), filepath.Join(root, "node_modules", "@spellcoven", "client"))
	page := `<!doctype html>
<script type="importmap">{"imports": {"@spellcoven/client": "/node_modules/@spellcoven/client/coven-client.js"}}</script>
<script type="module">
import { CovenClient, CloseCode, Projection, jwtExpiry } from '@spellcoven/client';
const c = new CovenClient({ url: 'ws://127.0.0.1:9/ws', tokenProvider: () => ({ token: 't' }) });
window.packageResult = { status: c.status, code: CloseCode.RATE_LIMITED, rooms: new Projection().rooms().length,
  exp: jwtExpiry('x.eyJleHAiOjN9.y'), isTarget: c instanceof EventTarget };
</script>`
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(root)))
	defer srv.Close()

	p := openPage(t)
	p.do("opening the page that imports the package", 30*time.Second, chromedp.Navigate(srv.URL+"/"))
	p.waitJS("the package's module to run", "window.packageResult !== undefined", 20*time.Second)
	var got map[string]any
	p.eval("window.packageResult", &got)
	want := map[string]any{"status": "idle", "code": 4029.0, "rooms": 0.0, "exp": 3000.0, "isTarget": true}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("in Chromium, %s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

// untar extracts the npm tarball's package/ directory into dst.
func untar(t *testing.T, tgz, dst string) {
	t.Helper()
	f, err := os.Open(tgz)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		name, ok := strings.CutPrefix(h.Name, "package/")
		if !ok || h.Typeflag != tar.TypeReg || strings.Contains(name, "..") {
			continue
		}
		path := filepath.Join(dst, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
