package rbac

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/locksmithx/locksmith/sdk"
)

// The operations a role may grant.
const (
	Acquire = "acquire"
	Release = "release"
	Convert = "convert"
	// Inspect covers reads: status, tree, check.
	Inspect = "inspect"
	// Admin covers repair.
	Admin = "admin"
)

var grantable = map[string]bool{Acquire: true, Release: true, Convert: true, Inspect: true, Admin: true}

// permission is what a host operation needs.
var permission = map[string]string{
	sdk.OpAcquire: Acquire, sdk.OpRelease: Release, sdk.OpConvert: Convert,
	sdk.OpStatus: Inspect, sdk.OpCheck: Inspect, sdk.OpRepair: Admin,
}

// Everyone is the binding that applies to every principal.
const Everyone = "*"

// Config is the plugin's config section.
type Config struct {
	// Roles maps a role to the operations it grants.
	Roles map[string][]string `json:"roles"`
	// Bindings maps a principal (an OS user name, or a bearer token's
	// principal) to its roles; "*" binds roles to everyone.
	Bindings map[string][]string `json:"bindings"`
	// Rules say on which resources each role applies. A role with no rule
	// applies nowhere.
	Rules []Rule `json:"rules"`
}

// Rule applies a role to resources matching any of its globs: path.Match
// patterns ("jobs/*"), where a final "/**" matches everything below
// ("jobs/**") and "**" matches every resource.
type Rule struct {
	Role      string   `json:"role"`
	Resources []string `json:"resources"`
}

// policy is a checked Config.
type policy struct{ Config }

// parsePolicy decodes and checks cfg; errors name the key path.
func parsePolicy(cfg sdk.Config) (policy, error) {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return policy{}, err
	}
	var probs []string
	for _, role := range sortedKeys(c.Roles) {
		for i, op := range c.Roles[role] {
			if !grantable[op] {
				probs = append(probs, fmt.Sprintf("roles.%s[%d]: %q is not an operation (acquire, release, convert, inspect, admin)", role, i, op))
			}
		}
	}
	for _, who := range sortedKeys(c.Bindings) {
		for i, role := range c.Bindings[who] {
			if _, ok := c.Roles[role]; !ok {
				probs = append(probs, fmt.Sprintf("bindings.%s[%d]: no role %q", who, i, role))
			}
		}
	}
	for i, r := range c.Rules {
		if _, ok := c.Roles[r.Role]; !ok {
			probs = append(probs, fmt.Sprintf("rules[%d].role: no role %q", i, r.Role))
		}
		if len(r.Resources) == 0 {
			probs = append(probs, fmt.Sprintf("rules[%d].resources: empty (the rule would apply nowhere)", i))
		}
		for j, g := range r.Resources {
			if _, err := path.Match(strings.TrimSuffix(g, "/**"), ""); err != nil || g == "" {
				probs = append(probs, fmt.Sprintf("rules[%d].resources[%d]: %q is not a glob", i, j, g))
			}
		}
	}
	if len(probs) > 0 {
		return policy{}, sdk.Errorf(sdk.CodeInvalidConfig, "%s", strings.Join(probs, "; "))
	}
	return policy{c}, nil
}

// decide says whether principal may do op on resource: "" when a rule
// allows it, else the reason it is denied.
func (p policy) decide(principal, op, resource string) string {
	need, ok := permission[op]
	if !ok {
		return fmt.Sprintf("operation %q is not known to the policy (default deny)", op)
	}
	roles := append(append([]string(nil), p.Bindings[principal]...), p.Bindings[Everyone]...)
	if len(roles) == 0 {
		return fmt.Sprintf("principal %q has no role (no binding; default deny)", principal)
	}
	var granting []string
	for _, role := range roles {
		for _, op := range p.Roles[role] {
			if op == need {
				granting = append(granting, role)
				break
			}
		}
	}
	if len(granting) == 0 {
		return fmt.Sprintf("roles %v of %q do not grant %s (default deny)", roles, principal, need)
	}
	for _, r := range p.Rules {
		if !contains(granting, r.Role) {
			continue
		}
		for _, g := range r.Resources {
			if match(g, resource) {
				return ""
			}
		}
	}
	return fmt.Sprintf("no rule lets roles %v of %q %s %q (default deny)", granting, principal, need, resource)
}

// match reports whether resource matches glob g.
func match(g, resource string) bool {
	if g == "**" {
		return true
	}
	if prefix, ok := strings.CutSuffix(g, "/**"); ok {
		if ok, _ := path.Match(prefix, resource); ok {
			return true
		}
		parts := strings.Split(resource, "/")
		for i := 1; i < len(parts); i++ {
			if ok, _ := path.Match(prefix, strings.Join(parts[:i], "/")); ok {
				return true
			}
		}
		return false
	}
	ok, _ := path.Match(g, resource)
	return ok
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
