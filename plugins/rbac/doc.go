// Package rbac is Locksmith's role-based access control middleware. Roles
// grant operations (acquire, release, convert, inspect, admin); bindings
// give principals roles; rules say on which resources (globs) a role
// applies. Once it runs, everything not granted is denied, and each
// denial names the rule, or the absence of one, that decided it. It runs
// only BEFORE operations, and is always fail-closed.
package rbac
