// Package placeholder resolves the placeholders of configuration values ({env.NAME}, {file.path}, …)
// and names the cause when a value that was written resolves to nothing: an admin whose Caddyfile
// says `jwks_url {env.IDP_JWKS_URL}` learns that IDP_JWKS_URL is not set, not that jwks_url is
// required.
package placeholder

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

var envPlaceholder = regexp.MustCompile(`\{env\.([^{}]+)\}`)

// Resolve replaces the known placeholders of raw. A raw value that is not blank but resolves to a
// blank one is an error naming the option and why each placeholder in it is empty.
func Resolve(repl *caddy.Replacer, option, raw string) (string, error) {
	v := repl.ReplaceKnown(raw, "")
	if strings.TrimSpace(v) == "" && strings.TrimSpace(raw) != "" {
		return "", emptyError(option, raw)
	}
	return v, nil
}

// Fields resolves each raw value and splits the results on white space (a placeholder may hold a
// list). Raw values that are given but resolve to no field at all are an error, as for Resolve: a list
// that silently became empty would change what the option means.
func Fields(repl *caddy.Replacer, option string, raws []string) ([]string, error) {
	var fields []string
	for _, raw := range raws {
		fields = append(fields, strings.Fields(repl.ReplaceKnown(raw, ""))...)
	}
	if len(fields) == 0 && len(raws) > 0 {
		return nil, emptyError(option, strings.Join(raws, " "))
	}
	return fields, nil
}

// emptyError explains why raw resolved to nothing.
func emptyError(option, raw string) error {
	var why []string
	for _, m := range envPlaceholder.FindAllStringSubmatch(raw, -1) {
		if v, ok := os.LookupEnv(m[1]); !ok {
			why = append(why, "environment variable "+m[1]+" is not set")
		} else if strings.TrimSpace(v) == "" {
			why = append(why, "environment variable "+m[1]+" is empty")
		}
	}
	if len(why) == 0 {
		return fmt.Errorf("%s %q resolved to an empty value", option, raw)
	}
	return fmt.Errorf("%s %q resolved to an empty value: %s", option, raw, strings.Join(why, ", "))
}
