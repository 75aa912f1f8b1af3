package redis

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/locksmithx/locksmith/sdk"
)

// Environment variables that override the config's secrets.
const (
	EnvPassword = "LOCKSMITH_REDIS_PASSWORD"
	EnvUsername = "LOCKSMITH_REDIS_USERNAME"
)

// Defaults of the config.
const (
	DefaultAddr    = "127.0.0.1:6379"
	DefaultPrefix  = "locksmith:"
	DefaultHistory = 1000
	maxHistory     = 1_000_000
)

// Config is the plugin's config section. Every field is optional: with
// none the store talks to a single Redis at 127.0.0.1:6379.
type Config struct {
	// Addrs are the servers: one for a single node (a Cluster is detected
	// from it), several for Cluster seeds, or the sentinels when MasterName
	// is set.
	Addrs []string `json:"addrs"`
	// Username and Password authenticate with ACL (or requirepass). The
	// environment variables LOCKSMITH_REDIS_USERNAME and
	// LOCKSMITH_REDIS_PASSWORD override them.
	Username string `json:"username"`
	Password string `json:"password"`
	// TLS is true, or an object with the TLS settings.
	TLS *TLSConfig `json:"tls"`
	// DB is the database number (single node and Sentinel only).
	DB int `json:"db"`
	// Prefix starts every key and channel name (default "locksmith:").
	Prefix string `json:"prefix"`
	// MasterName is the Sentinel master name; Addrs then name sentinels.
	MasterName string `json:"master_name"`
	// SentinelUsername and SentinelPassword authenticate with the sentinels.
	SentinelUsername string `json:"sentinel_username"`
	SentinelPassword string `json:"sentinel_password"`
	// PoolSize is the connection pool size per node (default: go-redis's,
	// 10 per CPU).
	PoolSize int `json:"pool_size"`
	// DialTimeout, ReadTimeout and WriteTimeout are durations such as "5s".
	DialTimeout  Duration `json:"dial_timeout"`
	ReadTimeout  Duration `json:"read_timeout"`
	WriteTimeout Duration `json:"write_timeout"`
	// History is how many events per resource Watch can replay at least
	// (default 1000; the log is trimmed back to it once it holds a quarter
	// more). A watcher that falls further behind gets sdk.ErrCompacted.
	History int `json:"history"`
}

// TLSConfig is the `tls` section. In the config it is either a boolean or
// an object; an object turns TLS on.
type TLSConfig struct {
	Enabled            bool   `json:"-"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify"`
	CAFile             string `json:"ca_file"`
	CertFile           string `json:"cert_file"`
	KeyFile            string `json:"key_file"`
	ServerName         string `json:"server_name"`
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
		return fmt.Errorf("tls: want true, false or an object with insecure_skip_verify, ca_file, cert_file, key_file, server_name: %v", err)
	}
	*c = TLSConfig(p)
	c.Enabled = true
	return nil
}

// Duration is a time.Duration written as a string such as "500ms" or "5s".
type Duration time.Duration

// UnmarshalJSON parses a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"5s\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration string such as \"5s\": %v", err)
	}
	*d = Duration(v)
	return nil
}

// ParseConfig decodes a config section strictly (an unknown key is an
// error naming it), applies the defaults and the environment overrides,
// and validates it. Every error has code sdk.CodeInvalidConfig.
func ParseConfig(raw sdk.Config) (Config, error) {
	var c Config
	if raw != nil {
		if err := raw.Decode(&c); err != nil {
			return Config{}, sdk.Errorf(sdk.CodeInvalidConfig, "redis: config: %v", err)
		}
	}
	if len(c.Addrs) == 0 {
		c.Addrs = []string{DefaultAddr}
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.History == 0 {
		c.History = DefaultHistory
	}
	if v, ok := os.LookupEnv(EnvPassword); ok {
		c.Password = v
	}
	if v, ok := os.LookupEnv(EnvUsername); ok {
		c.Username = v
	}
	return c, c.validate()
}

func (c Config) validate() error {
	bad := func(format string, args ...any) error {
		return sdk.Errorf(sdk.CodeInvalidConfig, "redis: config: "+format, args...)
	}
	for i, a := range c.Addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return bad("addrs[%d] %q: want host:port, such as %q: %v", i, a, DefaultAddr, err)
		}
		if host == "" {
			return bad("addrs[%d] %q: host is empty", i, a)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return bad("addrs[%d] %q: port must be a number from 1 to 65535", i, a)
		}
	}
	if c.DB < 0 {
		return bad("db %d: must be 0 or more", c.DB)
	}
	if c.DB != 0 && c.MasterName == "" && len(c.Addrs) > 1 {
		return bad("db %d: Redis Cluster (several addrs) has only database 0", c.DB)
	}
	if strings.ContainsAny(c.Prefix, "{}") {
		return bad("prefix %q: must not contain '{' or '}' (they mark Cluster hash tags)", c.Prefix)
	}
	if c.PoolSize < 0 {
		return bad("pool_size %d: must be 0 (the default) or more", c.PoolSize)
	}
	for name, d := range map[string]Duration{"dial_timeout": c.DialTimeout, "read_timeout": c.ReadTimeout, "write_timeout": c.WriteTimeout} {
		if d < 0 {
			return bad("%s %v: must not be negative", name, time.Duration(d))
		}
	}
	if c.History < 1 || c.History > maxHistory {
		return bad("history %d: must be from 1 to %d", c.History, maxHistory)
	}
	if c.MasterName == "" && (c.SentinelUsername != "" || c.SentinelPassword != "") {
		return bad("sentinel_username/sentinel_password need master_name")
	}
	if t := c.TLS; t != nil && t.Enabled {
		if (t.CertFile == "") != (t.KeyFile == "") {
			return bad("tls: cert_file and key_file go together")
		}
		if _, err := c.tlsConfig(); err != nil {
			return bad("tls: %v", err)
		}
	}
	return nil
}

func (c Config) tlsConfig() (*tls.Config, error) {
	t := c.TLS
	if t == nil || !t.Enabled {
		return nil, nil
	}
	out := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify, ServerName: t.ServerName}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate found", t.CAFile)
		}
		out.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file/key_file: %v", err)
		}
		out.Certificates = []tls.Certificate{cert}
	}
	return out, nil
}

// options returns the go-redis options of the config; cluster forces
// Cluster mode for a single address.
func (c Config) options(cluster bool) *goredis.UniversalOptions {
	tc, _ := c.tlsConfig()
	return &goredis.UniversalOptions{
		Addrs:            c.Addrs,
		ClientName:       "locksmith",
		DB:               c.DB,
		Username:         c.Username,
		Password:         c.Password,
		SentinelUsername: c.SentinelUsername,
		SentinelPassword: c.SentinelPassword,
		MasterName:       c.MasterName,
		PoolSize:         c.PoolSize,
		DialTimeout:      time.Duration(c.DialTimeout),
		ReadTimeout:      time.Duration(c.ReadTimeout),
		WriteTimeout:     time.Duration(c.WriteTimeout),
		TLSConfig:        tc,
		IsClusterMode:    cluster,
		Protocol:         2,
		DisableIdentity:  true,
	}
}

// where names the servers in messages.
func (c Config) where() string {
	if c.MasterName != "" {
		return fmt.Sprintf("sentinel master %q via %s", c.MasterName, strings.Join(c.Addrs, ","))
	}
	return strings.Join(c.Addrs, ",")
}

// ConfigSchema is the JSON schema of the config section.
const ConfigSchema = `{
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "addrs": {"type": "array", "items": {"type": "string"}, "default": ["127.0.0.1:6379"]},
    "username": {"type": "string"},
    "password": {"type": "string"},
    "tls": {"oneOf": [{"type": "boolean"}, {"type": "object", "additionalProperties": false, "properties": {
      "insecure_skip_verify": {"type": "boolean"}, "ca_file": {"type": "string"},
      "cert_file": {"type": "string"}, "key_file": {"type": "string"}, "server_name": {"type": "string"}}}]},
    "db": {"type": "integer", "minimum": 0},
    "prefix": {"type": "string", "default": "locksmith:"},
    "master_name": {"type": "string"},
    "sentinel_username": {"type": "string"},
    "sentinel_password": {"type": "string"},
    "pool_size": {"type": "integer", "minimum": 0},
    "dial_timeout": {"type": "string"},
    "read_timeout": {"type": "string"},
    "write_timeout": {"type": "string"},
    "history": {"type": "integer", "minimum": 1, "default": 1000}
  }
}`
