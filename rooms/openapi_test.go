package rooms

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// openAPIPath is the API's description, which must match the router and the answers.
const openAPIPath = "../docs/openapi.yaml"

// addedByCovenJWT are statuses that coven_jwt answers in front of every route, which this package's
// tests cannot observe: a missing or bad token, and an identity provider whose keys are unavailable.
var addedByCovenJWT = []int{401, 503}

// documentedStatuses reads the OpenAPI description: route ("GET /api/rooms/{id}") to statuses.
func documentedStatuses() (map[string][]int, error) {
	raw, err := os.ReadFile(openAPIPath)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", openAPIPath, err)
	}
	out := make(map[string][]int)
	for path, ops := range doc.Paths {
		for method, node := range ops {
			if method == "parameters" {
				continue
			}
			var op struct {
				Responses map[string]any `yaml:"responses"`
			}
			if err := node.Decode(&op); err != nil {
				return nil, fmt.Errorf("%s: %s %s: %w", openAPIPath, method, path, err)
			}
			route := strings.ToUpper(method) + " " + path
			for code := range op.Responses {
				n, err := strconv.Atoi(code)
				if err != nil {
					return nil, fmt.Errorf("%s: %s: response %q is not a status code", openAPIPath, route, code)
				}
				out[route] = append(out[route], n)
			}
			slices.Sort(out[route])
		}
	}
	return out, nil
}

// checkOpenAPICoverage compares the description with the router (Routes) and with the statuses the
// tests observed: each documented status must have been answered by a test, and each answer
// documented.
func checkOpenAPICoverage() error {
	doc, err := documentedStatuses()
	if err != nil {
		return err
	}
	var problems []string
	routes := make(map[string]bool)
	for _, r := range Routes() {
		routes[r.Method+" "+DefaultBasePath+r.Path] = true
	}
	for route := range routes {
		if _, ok := doc[route]; !ok {
			problems = append(problems, route+": served but not documented")
		}
	}
	observed.Lock()
	defer observed.Unlock()
	for route, statuses := range doc {
		if !routes[route] {
			problems = append(problems, route+": documented but not served")
			continue
		}
		for _, s := range statuses {
			if !observed.m[route][s] && !slices.Contains(addedByCovenJWT, s) {
				problems = append(problems, fmt.Sprintf("%s: status %d documented but no test saw it", route, s))
			}
		}
		for s := range observed.m[route] {
			if !slices.Contains(statuses, s) {
				problems = append(problems, fmt.Sprintf("%s: status %d answered but not documented", route, s))
			}
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("the OpenAPI description (%s) does not match the API:\n  %s", openAPIPath, strings.Join(problems, "\n  "))
	}
	return nil
}
