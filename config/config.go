// Package config loads and validates Locksmith's configuration with koanf:
// built-in defaults, then a YAML file, then LOCKSMITH_* environment
// variables, then flags, each layer overriding the one before. Decoding is
// strict: an unknown key is an error that names it.
package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// ErrInvalid is wrapped by every validation and decoding error.
var ErrInvalid = errors.New("config: invalid")

// DefaultBackend is the backend used when none is configured: the file
// backend, which needs no server.
const DefaultBackend = "file"

// DefaultTTL is the default session lease TTL.
const DefaultTTL = 15 * time.Second

// Config is the whole configuration of a host.
type Config struct {
	// Backend names the default backend plugin: the one that holds lock
	// state for requests that do not choose a backend. In a config file it
	// may also be written `backend: { from: OLD, to: NEW }`, which sets
	// Backend to NEW and MigrateFrom to OLD.
	Backend string `koanf:"backend"`
	// Backends names further backend plugins to run beside the default,
	// for requests that choose one (host.WithBackend, exec --backend).
	Backends []string `koanf:"backends"`
	// MigrateFrom, when set, names the backend being migrated away from:
	// every request that does not choose a backend takes its lock on both
	// MigrateFrom and Backend (in the order of their names) and releases
	// both; the fencing token is Backend's. See docs/operations.md.
	MigrateFrom string `koanf:"migrate_from"`
	// PluginDir is searched for plugin binaries named
	// locksmith-plugin-<name> before the directory of the host executable.
	PluginDir string `koanf:"plugin_dir"`
	// Plugins configures plugins by name.
	Plugins map[string]Plugin `koanf:"plugins"`
	// Middleware names the middleware plugins every operation passes
	// through, in order: BEFORE in this order, AFTER in reverse.
	Middleware []string `koanf:"middleware"`
	Lease      Lease    `koanf:"lease"`
	Log        Log      `koanf:"log"`
	Server     Server   `koanf:"server"`
	// Dir is the directory that relative paths in plugin entries resolve
	// against: a plugin's path, and the paths in its config (the host
	// starts every plugin in Dir). Load sets it to the config file's
	// directory; "" means the host's working directory. It is no config
	// key.
	Dir string `koanf:"-"`
}

// Plugin is one plugin's entry under `plugins:`.
type Plugin struct {
	// Path is an external plugin binary. Without it the plugin is looked
	// up by name (plugin dir, beside the host executable, built-in).
	Path string `koanf:"path"`
	// SHA256 is the expected hex checksum of Path's binary. A mismatch
	// refuses to start the plugin.
	SHA256 string `koanf:"sha256"`
	// Args are extra arguments for the plugin binary.
	Args []string `koanf:"args"`
	// Config is handed to the plugin's Configure as is.
	Config map[string]any `koanf:"config"`
	// OnError says what a middleware's failure (not a denial) means:
	// fail_closed (the default) refuses the operation, fail_open lets it
	// through.
	OnError string `koanf:"on_error"`
	// LogLevel is the plugin's own log level (trace, debug, info, warn,
	// error, off); empty follows log.level. Its lines pass the host's
	// level too.
	LogLevel string `koanf:"log_level"`
}

// The values of Plugin.OnError.
const (
	FailClosed = "fail_closed"
	FailOpen   = "fail_open"
)

// Lease configures sessions.
type Lease struct {
	// TTL is how long a session (and every lock in it) survives without
	// renewal. The host renews at a third of it.
	TTL time.Duration `koanf:"ttl"`
}

// Log configures the host's logger.
type Log struct {
	Level string `koanf:"level"`
}

// Server configures `locksmith serve`: its REST API, event stream,
// metrics and dashboard.
type Server struct {
	// Listen is the TCP address to serve on. The default is loopback.
	Listen string `koanf:"listen"`
	// Tokens are the bearer tokens clients present, each mapped to the
	// principal it authenticates. Once any is configured, every API
	// request needs one.
	Tokens []Token `koanf:"tokens"`
	// RateLimit is how many requests per second each principal may make
	// (an anonymous client counts as one principal per remote address);
	// 0 turns rate limiting off. Burst is how many may come at once.
	RateLimit float64 `koanf:"rate_limit"`
	Burst     int     `koanf:"burst"`
	// CORS lists the origins browsers may call the API from ("*" for
	// any). Empty, the default, sends no CORS headers.
	CORS []string `koanf:"cors"`
	// MaxBody bounds a request body, in bytes.
	MaxBody int64 `koanf:"max_body"`
	// LeaseTTL is how long an HTTP client's lease lives without a renewal.
	LeaseTTL time.Duration `koanf:"lease_ttl"`
	// MaxWait bounds how long one acquire request may wait.
	MaxWait time.Duration `koanf:"max_wait"`
}

// Token is one bearer token and the principal it stands for.
type Token struct {
	Principal string `koanf:"principal"`
	Token     string `koanf:"token"`
}

// Server defaults.
const (
	DefaultListen   = "127.0.0.1:7700"
	DefaultMaxBody  = 1 << 20
	DefaultLeaseTTL = 30 * time.Second
	DefaultMaxWait  = 5 * time.Minute
)

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		Backend: DefaultBackend,
		Plugins: map[string]Plugin{},
		Lease:   Lease{TTL: DefaultTTL},
		Log:     Log{Level: "warn"},
		Server: Server{Listen: DefaultListen, RateLimit: 100, Burst: 200, MaxBody: DefaultMaxBody,
			LeaseTTL: DefaultLeaseTTL, MaxWait: DefaultMaxWait},
	}
}

var (
	logLevels = map[string]bool{"trace": true, "debug": true, "info": true, "warn": true, "error": true, "off": true}
)

// isPluginName reports whether s is a plugin name: a lower-case letter,
// then up to 63 lower-case letters, digits, - and _. (A regexp for it,
// compiled at package init, cost every CLI run ~1 ms.)
func isPluginName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// isHexSHA256 reports whether s is 64 lower-case hex digits.
func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Validate checks c and returns every problem found, each naming its key,
// wrapped in ErrInvalid.
func (c Config) Validate() error {
	var probs []string
	if !isPluginName(c.Backend) {
		probs = append(probs, fmt.Sprintf("backend: %q is not a plugin name (lower-case letters, digits, - and _)", c.Backend))
	}
	for name, p := range c.Plugins {
		if !isPluginName(name) {
			probs = append(probs, fmt.Sprintf("plugins.%s: not a plugin name (lower-case letters, digits, - and _)", name))
		}
		if p.SHA256 != "" {
			if p.Path == "" {
				probs = append(probs, fmt.Sprintf("plugins.%s.sha256: set without plugins.%s.path", name, name))
			}
			if !isHexSHA256(strings.ToLower(p.SHA256)) {
				probs = append(probs, fmt.Sprintf("plugins.%s.sha256: %q is not 64 hex digits", name, p.SHA256))
			}
		}
	}
	running := map[string]bool{c.Backend: true}
	for i, b := range c.Backends {
		switch {
		case !isPluginName(b):
			probs = append(probs, fmt.Sprintf("backends[%d]: %q is not a plugin name", i, b))
		case running[b] && b != c.Backend:
			probs = append(probs, fmt.Sprintf("backends[%d]: %q is listed twice", i, b))
		}
		running[b] = true
	}
	if c.MigrateFrom != "" {
		switch {
		case !isPluginName(c.MigrateFrom):
			probs = append(probs, fmt.Sprintf("backend.from: %q is not a plugin name", c.MigrateFrom))
		case c.MigrateFrom == c.Backend:
			probs = append(probs, fmt.Sprintf("backend.from: %q is also backend.to; migrate between two different backends", c.MigrateFrom))
		}
		running[c.MigrateFrom] = true
	}
	seen := map[string]bool{}
	for _, m := range c.Middleware {
		switch {
		case !isPluginName(m):
			probs = append(probs, fmt.Sprintf("middleware: %q is not a plugin name", m))
		case running[m]:
			probs = append(probs, fmt.Sprintf("middleware: %q is a backend", m))
		case seen[m]:
			probs = append(probs, fmt.Sprintf("middleware: %q is listed twice", m))
		}
		seen[m] = true
	}
	for name, p := range c.Plugins {
		if p.LogLevel != "" && !logLevels[p.LogLevel] {
			probs = append(probs, fmt.Sprintf("plugins.%s.log_level: %q is not one of trace, debug, info, warn, error, off", name, p.LogLevel))
		}
		if p.OnError != "" && p.OnError != FailClosed && p.OnError != FailOpen {
			probs = append(probs, fmt.Sprintf("plugins.%s.on_error: %q is not fail_closed or fail_open", name, p.OnError))
		}
	}
	if c.Lease.TTL < time.Second {
		probs = append(probs, fmt.Sprintf("lease.ttl: %s is too short (at least 1s)", c.Lease.TTL))
	}
	if c.Lease.TTL > 24*time.Hour {
		probs = append(probs, fmt.Sprintf("lease.ttl: %s is too long (at most 24h)", c.Lease.TTL))
	}
	if !logLevels[strings.ToLower(c.Log.Level)] {
		probs = append(probs, fmt.Sprintf("log.level: %q is not one of trace, debug, info, warn, error, off", c.Log.Level))
	}
	probs = append(probs, c.Server.problems()...)
	if len(probs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(probs, "; "))
}

// Running names every backend the config starts: the default first, then
// the one migrated from, then the others of Backends, each once.
func (c Config) Running() []string {
	out := []string{c.Backend}
	seen := map[string]bool{c.Backend: true}
	for _, b := range append([]string{c.MigrateFrom}, c.Backends...) {
		if b != "" && !seen[b] {
			seen[b] = true
			out = append(out, b)
		}
	}
	return out
}

// Plugin returns the configuration of the named plugin (empty if none).
func (c Config) Plugin(name string) Plugin { return c.Plugins[name] }

// minTokenLen is the shortest bearer token accepted: 128 bits as hex.
const minTokenLen = 32

// problems lists what is wrong with the server section, each naming its
// key.
func (s Server) problems() []string {
	var probs []string
	if _, port, err := net.SplitHostPort(s.Listen); err != nil || port == "" {
		probs = append(probs, fmt.Sprintf("server.listen: %q is not host:port", s.Listen))
	}
	seen := map[string]bool{}
	for i, t := range s.Tokens {
		switch {
		case strings.TrimSpace(t.Principal) == "":
			probs = append(probs, fmt.Sprintf("server.tokens[%d].principal: empty", i))
		case len(t.Token) < minTokenLen:
			probs = append(probs, fmt.Sprintf("server.tokens[%d].token: %d characters, at least %d (e.g. `openssl rand -hex 16`)", i, len(t.Token), minTokenLen))
		case seen[t.Token]:
			probs = append(probs, fmt.Sprintf("server.tokens[%d].token: the same token is listed twice", i))
		}
		seen[t.Token] = true
	}
	if s.RateLimit < 0 {
		probs = append(probs, fmt.Sprintf("server.rate_limit: %v is negative (0 turns it off)", s.RateLimit))
	}
	if s.RateLimit > 0 && s.Burst < 1 {
		probs = append(probs, fmt.Sprintf("server.burst: %d, at least 1 when server.rate_limit is set", s.Burst))
	}
	for i, o := range s.CORS {
		if o != "*" && !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
			probs = append(probs, fmt.Sprintf("server.cors[%d]: %q is not an origin (http://host[:port], https://… or *)", i, o))
		}
	}
	if s.MaxBody < 1024 || s.MaxBody > 64<<20 {
		probs = append(probs, fmt.Sprintf("server.max_body: %d bytes, between 1024 and 67108864", s.MaxBody))
	}
	if s.LeaseTTL < time.Second || s.LeaseTTL > 24*time.Hour {
		probs = append(probs, fmt.Sprintf("server.lease_ttl: %s, between 1s and 24h", s.LeaseTTL))
	}
	if s.MaxWait < 0 || s.MaxWait > 24*time.Hour {
		probs = append(probs, fmt.Sprintf("server.max_wait: %s, between 0 and 24h", s.MaxWait))
	}
	return probs
}
