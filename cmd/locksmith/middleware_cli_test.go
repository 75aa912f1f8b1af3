package main

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// withMiddleware appends an [rbac, audit] chain, served by the locksmith
// binary's built-ins, to the env's config: the OS user may take jobs/*.
func (e *env) withMiddleware(t *testing.T) string {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Skip("no OS user:", err)
	}
	log := filepath.Join(e.dir, "audit.log")
	// The plugins: map is the file's only block: add to it.
	body := fmt.Sprintf(`  rbac:
    config:
      roles: { ops: [acquire, release, inspect] }
      bindings: { %q: [ops] }
      rules: [{ role: ops, resources: ["jobs/*"] }]
  audit:
    config: { path: %s, level: detailed }
middleware: [rbac, audit]
`, u.Username, log)
	f, err := os.OpenFile(e.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(body); err != nil {
		t.Fatal(err)
	}
	return log
}

// TestExecDeniedByRBAC: a denial is exit 75 with RBAC's reason on stderr,
// the denial is audited, a granted exec runs, the log verifies, and an
// edit of it is caught.
func TestExecDeniedByRBAC(t *testing.T) {
	e := newEnv(t)
	log := e.withMiddleware(t)
	code, out := e.run("exec", "--named", "prod/db", "--", "true")
	if code != 75 || !strings.Contains(out, "denied by rbac") || !strings.Contains(out, `no rule lets roles [ops]`) {
		t.Fatalf("denied exec: exit %d:\n%s", code, out)
	}
	if code, out := e.run("exec", "--named", "jobs/nightly", "--", "true"); code != 0 {
		t.Fatalf("granted exec: exit %d:\n%s", code, out)
	}
	raw, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"resource":"prod/db","mode":"exclusive","outcome":"denied"`) {
		t.Fatalf("the denial is not in the audit log:\n%s", raw)
	}
	if code, out := e.run("audit", "verify", log); code != 0 || !strings.Contains(out, "chain intact") {
		t.Fatalf("audit verify: exit %d:\n%s", code, out)
	}
	if err := os.WriteFile(log, []byte(strings.Replace(string(raw), "prod/db", "prod/dc", 1)), 0o640); err != nil {
		t.Fatal(err)
	}
	if code, out := e.run("audit", "verify", log); code != 1 || !strings.Contains(out, "audit.log:1: edited") {
		t.Fatalf("audit verify of an edited log: exit %d:\n%s", code, out)
	}
}

// TestConfigValidate: each plugin checks its own block, and the errors
// name the key path; a valid config passes.
func TestConfigValidate(t *testing.T) {
	e := newEnv(t)
	e.withMiddleware(t)
	if code, out := e.run("config", "validate", e.config); code != 0 || !strings.Contains(out, "ok:") {
		t.Fatalf("valid config: exit %d:\n%s", code, out)
	}
	raw, _ := os.ReadFile(e.config)
	bad := filepath.Join(e.dir, "bad.yaml")
	body := strings.Replace(strings.Replace(string(raw), "{ path:", "{ paht:", 1), "[acquire, release", "[aquire, release", 1)
	if err := os.WriteFile(bad, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := e.run("config", "validate", bad)
	if code != 2 || !strings.Contains(out, "plugins.audit.config.paht: unknown key") || !strings.Contains(out, "plugins.rbac.config.roles.ops[0]") {
		t.Fatalf("invalid config: exit %d:\n%s", code, out)
	}
}

// TestConfigShowRedacts: the merged config is shown with its secrets
// redacted, the environment's layer included.
func TestConfigShowRedacts(t *testing.T) {
	e := newEnv(t)
	c := e.command("config", "show")
	c.Env = append(os.Environ(), "LOCKSMITH_LEASE_TTL=42s")
	raw, _ := os.ReadFile(e.config)
	if err := os.WriteFile(e.config, append(raw, []byte("  redis:\n    config: { password: hunter2 }\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("config show: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "hunter2") || !strings.Contains(string(out), "password: <redacted>") || !strings.Contains(string(out), "ttl: 42s") {
		t.Fatalf("config show:\n%s", out)
	}
}

// TestStatusShowsDecryptedMetadata: with crypto on, the file backend's
// state holds no plaintext while `locksmith status` shows it.
func TestStatusShowsDecryptedMetadata(t *testing.T) {
	e := newEnv(t)
	f, err := os.OpenFile(e.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString("  crypto:\n    config: { key_env: TEST_LOCKSMITH_KEY }\nmiddleware: [crypto]\n")
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_LOCKSMITH_KEY", strings.Repeat("5a", 32))
	out := filepath.Join(e.dir, "status.txt")
	script := e.script("show", fmt.Sprintf("%q --config %q status --named held > %q 2>&1\ngrep -rq plaintext-purpose-91 %q && echo LEAKED >> %q\nexit 0\n",
		locksmith, e.config, out, filepath.Join(e.dir, "named"), out))
	if code, log := e.run("exec", "--named", "held", "--meta", "purpose=plaintext-purpose-91", "--", script); code != 0 {
		t.Fatalf("exec: exit %d:\n%s", code, log)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "plaintext-purpose-91") || strings.Contains(string(raw), "LEAKED") {
		t.Fatalf("status under the lock (want the purpose decrypted, and no plaintext in the state):\n%s", raw)
	}
}
