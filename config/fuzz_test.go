package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/knadh/koanf/parsers/yaml"
)

// FuzzLoad feeds Load a YAML file and environment variables ("K=V" per
// line). It must never panic; a config it accepts must validate and load
// the same way again; a config it rejects must say so with ErrInvalid
// and name the key at fault (or, for a file that is not YAML, the file).
func FuzzLoad(f *testing.F) {
	f.Add([]byte("backend: redis\nlease: { ttl: 30s }\nplugins:\n  redis: { config: { addrs: [\"127.0.0.1:7000\"] } }\n"), "LOCKSMITH_LEASE_TTL=20s")
	f.Add([]byte("plugins:\n  acme: { path: /opt/acme/plugin, sha256: \"ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\" }\n"), "")
	f.Add([]byte("middleware: [rbac, audit]\nplugins:\n  audit: { on_error: fail_open }\n"), "LOCKSMITH_LOG_LEVEL=debug")
	f.Add([]byte("lease: { ttl: 100ms }\n"), "")
	f.Add([]byte("bogus: 1\n"), "LOCKSMITH_BACKEND=Not A Name")
	f.Add([]byte(""), "LOCKSMITH_LEASE_TTL=zz\nLOCKSMITH_FENCING_TOKEN=7")
	f.Fuzz(func(t *testing.T, doc []byte, environ string) {
		p := filepath.Join(t.TempDir(), "locksmith.yaml")
		if err := os.WriteFile(p, doc, 0o644); err != nil {
			t.Fatal(err)
		}
		env := []string{}
		for _, kv := range strings.Split(environ, "\n") {
			if kv != "" {
				env = append(env, kv)
			}
		}
		src := Sources{File: p, Environ: env}
		c, err := Load(src)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("rejected without ErrInvalid: %v", err)
			}
			if !namesKey(err.Error(), doc, env, p) {
				t.Fatalf("rejection names no key (nor the file, for a YAML error): %v", err)
			}
			return
		}
		if verr := c.Validate(); verr != nil {
			t.Fatalf("Load accepted a config that does not validate: %v", verr)
		}
		if c.Plugins == nil {
			t.Fatal("Load returned a nil Plugins map")
		}
		for name, pc := range c.Plugins {
			if pc.SHA256 != strings.ToLower(pc.SHA256) {
				t.Fatalf("plugins.%s.sha256 %q not normalised", name, pc.SHA256)
			}
		}
		again, err := Load(src)
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("second load differs: %+v, %v; first %+v", again, err, c)
		}
	})
}

// namesKey reports whether msg names a config key: a known one, a key
// found anywhere in the YAML document, or one an environment variable
// sets; or, for a document that does not parse as YAML, the file.
func namesKey(msg string, doc []byte, env []string, file string) bool {
	keys := []string{"backend", "plugin_dir", "plugins", "middleware", "lease", "ttl", "log", "level"}
	m, err := yaml.Parser().Unmarshal(doc)
	if err != nil {
		return strings.Contains(msg, file) && strings.Contains(msg, "yaml")
	}
	keys = append(keys, docKeys(m)...)
	// The file's path is no key, whatever it happens to contain.
	msg = strings.ReplaceAll(msg, file, "")
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); ok && envKeys[k] != "" {
			keys = append(keys, envKeys[k])
		}
	}
	for _, k := range keys {
		if k != "" && strings.Contains(msg, k) {
			return true
		}
	}
	return false
}

// docKeys lists every map key in v, at any depth.
func docKeys(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			out = append(out, k)
			out = append(out, docKeys(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, docKeys(x)...)
		}
	}
	return out
}
