package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// build compiles the repository's package pkg (e.g. "./cmd/caddy") into dir and returns the
// binary's path. The compiler's output goes to log, where errors always show.
func build(ctx context.Context, repoRoot, pkg, dir string, log *partLog) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = repoRoot
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("go build %s: %w", pkg, err)
	}
	return bin, nil
}

// baseEnv is the environment of the sandbox's processes: this process's, without the settings the
// sandbox gives them itself, so that a variable left over in a shell cannot change or break them
// (the worker reads every setting from the environment as well as from flags).
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "DISCORD_"), strings.HasPrefix(name, "COVEN_"),
			name == "SSL_CERT_FILE", name == "HOME", name == "XDG_DATA_HOME", name == "XDG_CONFIG_HOME":
			continue
		}
		env = append(env, kv)
	}
	return env
}
