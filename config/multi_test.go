package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestLoadBackendsAndMigration(t *testing.T) {
	p := writeFile(t, `
backend: { from: file, to: redis }
backends: [consul]
`)
	c, err := Load(Sources{File: p, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Backend != "redis" || c.MigrateFrom != "file" {
		t.Fatalf("backend %q, migrate_from %q; want redis from file", c.Backend, c.MigrateFrom)
	}
	if got := c.Running(); !slices.Equal(got, []string{"redis", "file", "consul"}) {
		t.Fatalf("running %v", got)
	}
}

func TestValidateBackends(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"same both ways", "backend: { from: redis, to: redis }", "backend.from: \"redis\" is also backend.to"},
		{"half a migration", "backend: { from: file }", "names both backends"},
		{"unknown migration key", "backend: { from: file, to: redis, via: x }", "backend.via: unknown key"},
		{"twice", "backends: [redis, redis]", "backends[1]: \"redis\" is listed twice"},
		{"bad name", "backends: [Redis]", "backends[0]: \"Redis\" is not a plugin name"},
		{"middleware is a backend", "backends: [redis]\nmiddleware: [redis]", "middleware: \"redis\" is a backend"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(Sources{File: writeFile(t, tc.yaml), Environ: []string{}})
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want ErrInvalid saying %q", err, tc.want)
			}
		})
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.Server.Tokens = []Token{{Principal: "ops", Token: strings.Repeat("a", 32)}}
	c.Plugins["redis"] = Plugin{Config: map[string]any{
		"addrs": []any{"127.0.0.1:6379"}, "password": "hunter2",
		"tls": map[string]any{"private_key": "k", "ca": "ca.pem"},
	}}
	r := c.Redacted()
	if r.Server.Tokens[0].Token != Redacted || r.Server.Tokens[0].Principal != "ops" {
		t.Fatalf("token not redacted: %+v", r.Server.Tokens)
	}
	rc := r.Plugins["redis"].Config
	if rc["password"] != Redacted || rc["tls"].(map[string]any)["private_key"] != Redacted {
		t.Fatalf("secrets not redacted: %v", rc)
	}
	if rc["tls"].(map[string]any)["ca"] != "ca.pem" || rc["addrs"].([]any)[0] != "127.0.0.1:6379" {
		t.Fatalf("non-secrets changed: %v", rc)
	}
	if c.Plugins["redis"].Config["password"] != "hunter2" || c.Server.Tokens[0].Token == Redacted {
		t.Fatal("Redacted changed the original")
	}
}
