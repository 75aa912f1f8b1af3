package consul

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// Environment variables that hold the ACL token; the first one set wins
// over the config's token.
const (
	EnvToken       = "LOCKSMITH_CONSUL_TOKEN"
	EnvConsulToken = "CONSUL_HTTP_TOKEN"
)

// Defaults of the config.
const (
	DefaultAddress = "127.0.0.1:8500"
	DefaultScheme  = "http"
	DefaultPrefix  = "locksmith/"
	DefaultHistory = 64
	maxHistory     = 10_000
	maxLockDelay   = 60 * time.Second
)

// Config is the plugin's config section. Every field is optional: with
// none the store talks to the local agent at 127.0.0.1:8500 over HTTP.
type Config struct {
	// Address is the agent's host:port.
	Address string `json:"address"`
	// Scheme is "http" or "https" (set by tls when omitted).
	Scheme string `json:"scheme"`
	// TLS is true, or an object with the TLS settings; it implies https.
	TLS *TLSConfig `json:"tls"`
	// Token is the ACL token. LOCKSMITH_CONSUL_TOKEN, then
	// CONSUL_HTTP_TOKEN, override it.
	Token string `json:"token"`
	// Datacenter is the datacenter to use (default: the agent's).
	Datacenter string `json:"datacenter"`
	// Prefix starts every KV key the store writes (default "locksmith/").
	Prefix string `json:"prefix"`
	// LockDelay is the Consul lock-delay of the store's sessions, such as
	// "1s" (default 0: fencing tokens make a delay unnecessary).
	LockDelay Duration `json:"lock_delay"`
	// History is how many events per resource Watch can replay (default
	// 64). A watcher that falls further behind gets sdk.ErrCompacted.
	History int `json:"history"`
}

// TLSConfig is the `tls` section. In the config it is either a boolean or
// an object; an object turns TLS on.
type TLSConfig struct {
	Enabled            bool   `json:"-"`
	CAFile             string `json:"ca_file"`
	CertFile           string `json:"cert_file"`
	KeyFile            string `json:"key_file"`
	ServerName         string `json:"server_name"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify"`
}

// UnmarshalJSON accepts true, false or an object with known keys only.
func (c *TLSConfig) UnmarshalJSON(b []byte) error {
	switch strings.TrimSpace(string(b)) {
	case "true":
		*c = TLSConfig{Enabled: true}
		return nil
	case "false", "null":
		*c = TLSConfig{}
		return nil
	}
	type plain TLSConfig
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("tls: want true, false or an object with ca_file, cert_file, key_file, server_name, insecure_skip_verify: %v", err)
	}
	*c = TLSConfig(p)
	c.Enabled = true
	return nil
}

// Duration is a time.Duration written as a string such as "500ms".
type Duration time.Duration

// UnmarshalJSON parses a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"1s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration string such as \"1s\": %v", err)
	}
	*d = Duration(v)
	return nil
}

// ParseConfig decodes a config section strictly (an unknown key is an
// error naming it), applies the defaults and the token from the
// environment, and validates it. Every error has code
// sdk.CodeInvalidConfig.
func ParseConfig(raw sdk.Config) (Config, error) {
	var c Config
	if raw != nil {
		if err := raw.Decode(&c); err != nil {
			return Config{}, sdk.Errorf(sdk.CodeInvalidConfig, "consul: config: %v", err)
		}
	}
	if c.Address == "" {
		c.Address = DefaultAddress
	}
	if c.Scheme == "" {
		c.Scheme = DefaultScheme
		if c.TLS != nil && c.TLS.Enabled {
			c.Scheme = "https"
		}
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.History == 0 {
		c.History = DefaultHistory
	}
	for _, env := range []string{EnvToken, EnvConsulToken} {
		if v, ok := os.LookupEnv(env); ok && v != "" {
			c.Token = v
			break
		}
	}
	return c, c.validate()
}

func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return sdk.Errorf(sdk.CodeInvalidConfig, "consul: config: "+format, args...)
	}
	host, port, err := net.SplitHostPort(c.Address)
	if err != nil {
		return bad("address %q: want host:port, such as %q: %v", c.Address, DefaultAddress, err)
	}
	if host == "" {
		return bad("address %q: host is empty", c.Address)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return bad("address %q: port must be a number from 1 to 65535", c.Address)
	}
	switch c.Scheme {
	case "http":
		if c.TLS != nil && c.TLS.Enabled {
			return bad("scheme %q with tls: use scheme https, or drop tls", c.Scheme)
		}
	case "https":
	default:
		return bad("scheme %q: want http or https", c.Scheme)
	}
	if strings.HasPrefix(c.Prefix, "/") || strings.Contains(c.Prefix, "//") || !strings.HasSuffix(c.Prefix, "/") {
		return bad("prefix %q: want a KV path that ends in '/' and neither starts with '/' nor holds '//', such as %q", c.Prefix, DefaultPrefix)
	}
	if strings.ContainsAny(c.Prefix, " \t\r\n") {
		return bad("prefix %q: must not contain white space", c.Prefix)
	}
	if d := time.Duration(c.LockDelay); d < 0 || d > maxLockDelay {
		return bad("lock_delay %v: must be from 0 to %v", d, maxLockDelay)
	}
	if c.History < 1 || c.History > maxHistory {
		return bad("history %d: must be from 1 to %d", c.History, maxHistory)
	}
	if strings.ContainsAny(c.Datacenter, "/ ?#") {
		return bad("datacenter %q: not a datacenter name", c.Datacenter)
	}
	if t := c.TLS; t != nil && t.Enabled {
		if (t.CertFile == "") != (t.KeyFile == "") {
			return bad("tls: cert_file and key_file go together")
		}
		for name, f := range map[string]string{"ca_file": t.CAFile, "cert_file": t.CertFile, "key_file": t.KeyFile} {
			if f == "" {
				continue
			}
			if _, err := os.Stat(f); err != nil {
				return bad("tls: %s: %v", name, err)
			}
		}
	}
	return nil
}

// ConfigSchema is the JSON schema of the config section.
const ConfigSchema = `{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "address": {"type": "string", "default": "127.0.0.1:8500"},
    "scheme": {"enum": ["http", "https"], "default": "http"},
    "tls": {"oneOf": [{"type": "boolean"}, {"type": "object", "additionalProperties": false, "properties": {
      "ca_file": {"type": "string"}, "cert_file": {"type": "string"}, "key_file": {"type": "string"},
      "server_name": {"type": "string"}, "insecure_skip_verify": {"type": "boolean"}}}]},
    "token": {"type": "string"},
    "datacenter": {"type": "string"},
    "prefix": {"type": "string", "default": "locksmith/"},
    "lock_delay": {"type": "string", "default": "0s"},
    "history": {"type": "integer", "minimum": 1, "default": 64}
  }
}`
