package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "locksmith.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(Sources{Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend != "file" || c.Lease.TTL != 15*time.Second || c.Log.Level != "warn" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestLoadLayers(t *testing.T) {
	p := writeFile(t, `
backend: redis
lease: { ttl: 30s }
plugins:
  redis: { config: { addrs: ["127.0.0.1:7000"] } }
  acme:  { path: /opt/acme/plugin, sha256: "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789" }
`)
	c, err := Load(Sources{File: p, Environ: []string{"LOCKSMITH_LEASE_TTL=20s", "LOCKSMITH_FENCING_TOKEN=7", "PATH=/bin"},
		Overrides: map[string]any{"log.level": "debug"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend != "redis" {
		t.Errorf("backend from file: %q", c.Backend)
	}
	if c.Lease.TTL != 20*time.Second {
		t.Errorf("env should override file: ttl %s", c.Lease.TTL)
	}
	if c.Log.Level != "debug" {
		t.Errorf("flag override: %q", c.Log.Level)
	}
	addrs, _ := c.Plugin("redis").Config["addrs"].([]any)
	if len(addrs) != 1 || addrs[0] != "127.0.0.1:7000" {
		t.Errorf("plugin config: %#v", c.Plugin("redis").Config)
	}
	if got := c.Plugin("acme").SHA256; got != strings.ToLower("ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789") {
		t.Errorf("sha256 not normalised: %q", got)
	}
}

func TestLoadRejects(t *testing.T) {
	cases := map[string]struct{ body, want string }{
		"unknown key":      {"backnd: file\n", "backnd"},
		"unknown nested":   {"lease: { tll: 3s }\n", "tll"},
		"bad duration":     {"lease: { ttl: soon }\n", "ttl"},
		"short ttl":        {"lease: { ttl: 10ms }\n", "lease.ttl"},
		"bad sha":          {"plugins: { x: { path: /a, sha256: zz } }\n", "plugins.x.sha256"},
		"sha without path": {"plugins: { x: { sha256: " + strings.Repeat("a", 64) + " } }\n", "without plugins.x.path"},
		"bad backend":      {"backend: Not/A/Name\n", "backend"},
		"bad level":        {"log: { level: loud }\n", "log.level"},
		"bad yaml":         {"backend: [\n", "locksmith.yaml"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load(Sources{File: writeFile(t, tc.body), Environ: []string{}})
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %q", err, tc.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(Sources{File: "/nonexistent/locksmith.yaml", Environ: []string{}})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/locksmith.yaml") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestPluginNameAndHexChecks(t *testing.T) {
	names := map[string]bool{
		"file": true, "a": true, "redis-2_x": true, "a" + strings.Repeat("b", 63): true,
		"": false, "File": false, "2redis": false, "-x": false, "re dis": false, "é": false,
		"a" + strings.Repeat("b", 64): false, "x/y": false,
	}
	for s, want := range names {
		if got := isPluginName(s); got != want {
			t.Errorf("isPluginName(%q) = %v, want %v", s, got, want)
		}
	}
	hex := map[string]bool{
		strings.Repeat("a", 64): true, strings.Repeat("0f", 32): true,
		strings.Repeat("a", 63): false, strings.Repeat("a", 65): false, strings.Repeat("g", 64): false,
		strings.Repeat("A", 64): false, "": false,
	}
	for s, want := range hex {
		if got := isHexSHA256(s); got != want {
			t.Errorf("isHexSHA256(%q) = %v, want %v", s, got, want)
		}
	}
}
