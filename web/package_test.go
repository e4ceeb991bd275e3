package web

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// packageFiles is what the npm package holds: the library and its types, not the demo page, the
// tests or the Go files.
var packageFiles = []string{"README.md", "coven-client.d.ts", "coven-client.js", "coven-projection.d.ts", "coven-projection.js", "coven-table.d.ts", "coven-table.js", "package.json"}

// TestPackage packs the client as npm would publish it, installs the tarball into a new project, and
// uses it from there as its users do: imported by name in Node, and type-checked from TypeScript
// under --strict.
func TestPackage(t *testing.T) {
	node := requireNode(t)
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Fatal("npm is not installed; the package test needs it (it comes with Node)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), nodeTestTimeout)
	defer cancel()
	run := func(dir string, name string, args ...string) []byte {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "npm_config_update_notifier=false", "npm_config_fund=false", "npm_config_audit=false")
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, out, stderr)
		}
		return out
	}

	dir := t.TempDir()
	var packed []struct {
		Filename string `json:"filename"`
		Files    []struct {
			Path string `json:"path"`
		} `json:"files"`
	}
	if err := json.Unmarshal(run(".", npm, "pack", "--json", "--pack-destination", dir), &packed); err != nil || len(packed) != 1 {
		t.Fatalf("npm pack --json: %v %+v", err, packed)
	}
	var files []string
	for _, f := range packed[0].Files {
		files = append(files, f.Path)
	}
	slices.Sort(files)
	if !slices.Equal(files, packageFiles) {
		t.Fatalf("the package holds %v, want %v", files, packageFiles)
	}

	consumer := filepath.Join(dir, "consumer")
	write(t, filepath.Join(consumer, "package.json"), `{"name": "consumer", "private": true, "type": "module"}`)
	run(consumer, npm, "install", "--offline", filepath.Join(dir, packed[0].Filename))

	write(t, filepath.Join(consumer, "use.mjs"), `
import { CovenClient, CloseCode, Projection, jwtExpiry } from '@spellcoven/client';
import { Projection as P2, compareSnowflakes } from '@spellcoven/client/projection';
import { TableWatcher, TABLE_DEFAULTS, BoardPublisher, sourceKey } from '@spellcoven/client/table';
const w = new TableWatcher('1', { client: new EventTarget(), tokenProvider: () => 't', fetch: () => {} });
const board = new BoardPublisher('1', { getVideoTracks: () => [{}], getAudioTracks: () => [] }, { tokenProvider: () => 't', fetch: () => {} });
let noVideo = '';
try { new BoardPublisher('1', { getVideoTracks: () => [] }, { tokenProvider: () => 't' }); } catch (e) { noVideo = e.message; }
const c = new CovenClient({ url: 'ws://127.0.0.1:1/ws', tokenProvider: () => ({ token: 't' }), WebSocket: class {} });
console.log(JSON.stringify({ status: c.status, code: CloseCode.TOKEN_EXPIRED, same: Projection === P2,
  order: compareSnowflakes('9', '10'), exp: jwtExpiry('x.eyJleHAiOjJ9.y'), table: TABLE_DEFAULTS.baseUrl + '/' + w.roomId,
  whip: board.endpoint, key: sourceKey('7', 'board') + ',' + sourceKey('7'), noVideo }));
`)
	var got map[string]any
	if err := json.Unmarshal(run(consumer, node, "use.mjs"), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"status": "idle", "code": 4003.0, "same": true, "order": -1.0, "exp": 2000.0, "table": "/api/table/1",
		"whip": "/api/table/1/board", "key": "7:board,7", "noVideo": "BoardPublisher: the stream has no video track"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("in Node, %s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}

	// TypeScript under --strict: the event map types each listener's detail; misuse does not compile
	// (each @ts-expect-error must meet an error, or tsc fails).
	write(t, filepath.Join(consumer, "tsconfig.json"), `{"compilerOptions": {"strict": true, "noEmit": true, "target": "es2022",
		"module": "nodenext", "moduleResolution": "nodenext", "lib": ["es2022", "dom"]}, "files": ["use.ts"]}`)
	write(t, filepath.Join(consumer, "use.ts"), `
import { CovenClient, CloseCode, type RoomState, type Status, type Token } from '@spellcoven/client';
import { Projection } from '@spellcoven/client/projection';
import { watchRoom, frames, publishBoard, type MemberState, type PublishState, type SourceKind } from '@spellcoven/client/table';

const client = new CovenClient({
  url: 'wss://app.example.com/ws',
  tokenProvider: async (reason): Promise<Token> => ({ token: reason }),
  maxBackoffMs: 10_000,
});
client.addEventListener('status', (e) => {
  const s: Status = e.detail.status;
  const delay: number | undefined = e.detail.delayMs;
  void s; void delay;
});
client.addEventListener('state', (e) => {
  const rooms: RoomState[] = client.rooms;
  const names: string[] = rooms.flatMap((r) => r.members.map((m) => m.username));
  void e.detail.events.length; void names;
});
client.addEventListener('error', (e) => { const code: string = e.detail.code; void code; });
const ready: Promise<{ status: Status }> = client.ready(5000);
void ready;
const expired: 4003 = CloseCode.TOKEN_EXPIRED;
void expired;
new Projection().apply({ type: 'room.deleted', data: { id: '1' } });

const table = watchRoom('1200000000000000001', { client, tokenProvider: () => 'token', selfId: '1300000000000000001' });
table.addEventListener('add', (e) => {
  const stream: MediaStream = e.detail.stream;
  const track = stream.getVideoTracks()[0];
  if (track) frames(track, (f) => { if ('close' in f) f.close(); }).stop();
});
table.addEventListener('member', (e) => { const s: MemberState = e.detail.state; const k: SourceKind = e.detail.kind; void s; void k; });
table.addEventListener('remove', (e) => { const key: string = e.detail.key; void key; });
declare const camera: MediaStream;
const board = publishBoard('1200000000000000001', camera, { tokenProvider: () => 'token' });
board.addEventListener('state', (e) => { const s: PublishState = e.detail.state; void s; });
board.stop();
// @ts-expect-error: a publish needs a token provider
publishBoard('1', camera, {});
// @ts-expect-error: publish states are a closed set
const notPublishing: PublishState = 'paused';
void notPublishing;
// @ts-expect-error: member states are a closed set
const notAState: MemberState = 'playing';
void notAState;

// @ts-expect-error: the detail of 'status' has no such field
client.addEventListener('status', (e) => e.detail.rooms);
// @ts-expect-error: url is required
new CovenClient({ tokenProvider: () => ({ token: 't' }) });
// @ts-expect-error: a token provider returns a Token
new CovenClient({ url: 'wss://x/ws', tokenProvider: () => 42 });
// @ts-expect-error: statuses are a closed set
const bad: Status = 'open';
void bad;
`)
	run(consumer, node, filepath.Join(mustAbs(t, "node_modules"), "typescript", "bin", "tsc"), "-p", ".")
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
