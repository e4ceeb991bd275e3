package sandbox

import (
	"os"
	"strings"
)

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
