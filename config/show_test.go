package config

import (
	"strings"
	"testing"
	"time"
)

func TestShowRedactsSecrets(t *testing.T) {
	c := Default()
	c.Server.Tokens = []Token{{Principal: "ci", Token: strings.Repeat("a", 40)}}
	c.Plugins["redis"] = Plugin{Config: map[string]any{"addrs": []any{"127.0.0.1:6379"}, "password": "hunter2", "tls": map[string]any{"client_secret": "s3"}}}
	c.Plugins["crypto"] = Plugin{Config: map[string]any{"key_file": "/etc/locksmith/key"}, LogLevel: "debug"}
	c.Lease.TTL = 20 * time.Second
	m := Show(c)
	redis := m["plugins"].(map[string]any)["redis"].(map[string]any)["config"].(map[string]any)
	if redis["password"] != Redacted || redis["tls"].(map[string]any)["client_secret"] != Redacted {
		t.Errorf("redis secrets shown: %v", redis)
	}
	if redis["addrs"].([]any)[0] != "127.0.0.1:6379" {
		t.Errorf("addrs: %v", redis["addrs"])
	}
	if tok := m["server"].(map[string]any)["tokens"].([]any)[0].(map[string]any); tok["token"] != Redacted || tok["principal"] != "ci" {
		t.Errorf("bearer token: %v", tok)
	}
	crypto := m["plugins"].(map[string]any)["crypto"].(map[string]any)
	if crypto["config"].(map[string]any)["key_file"] != "/etc/locksmith/key" || crypto["log_level"] != "debug" {
		t.Errorf("crypto block: %v", crypto)
	}
	if m["lease"].(map[string]any)["ttl"] != "20s" {
		t.Errorf("lease: %v", m["lease"])
	}
}

func TestPluginLogLevelValidated(t *testing.T) {
	c := Default()
	c.Plugins["audit"] = Plugin{LogLevel: "loud"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "plugins.audit.log_level") {
		t.Fatalf("validate: %v", err)
	}
}
