// Package config loads and validates Locksmith's configuration with koanf:
// built-in defaults, then a YAML file, then LOCKSMITH_* environment
// variables, then flags, each layer overriding the one before. Decoding is
// strict: an unknown key is an error that names it.
package config

import (
	"errors"
	"fmt"
	"regexp"
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
	// Backend names the backend plugin that holds lock state.
	Backend string `koanf:"backend"`
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

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		Backend: DefaultBackend,
		Plugins: map[string]Plugin{},
		Lease:   Lease{TTL: DefaultTTL},
		Log:     Log{Level: "warn"},
	}
}

var (
	pluginName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)
	hexSHA256  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	logLevels  = map[string]bool{"trace": true, "debug": true, "info": true, "warn": true, "error": true, "off": true}
)

// Validate checks c and returns every problem found, each naming its key,
// wrapped in ErrInvalid.
func (c Config) Validate() error {
	var probs []string
	if !pluginName.MatchString(c.Backend) {
		probs = append(probs, fmt.Sprintf("backend: %q is not a plugin name (lower-case letters, digits, - and _)", c.Backend))
	}
	for name, p := range c.Plugins {
		if !pluginName.MatchString(name) {
			probs = append(probs, fmt.Sprintf("plugins.%s: not a plugin name (lower-case letters, digits, - and _)", name))
		}
		if p.SHA256 != "" {
			if p.Path == "" {
				probs = append(probs, fmt.Sprintf("plugins.%s.sha256: set without plugins.%s.path", name, name))
			}
			if !hexSHA256.MatchString(strings.ToLower(p.SHA256)) {
				probs = append(probs, fmt.Sprintf("plugins.%s.sha256: %q is not 64 hex digits", name, p.SHA256))
			}
		}
	}
	seen := map[string]bool{}
	for _, m := range c.Middleware {
		switch {
		case !pluginName.MatchString(m):
			probs = append(probs, fmt.Sprintf("middleware: %q is not a plugin name", m))
		case m == c.Backend:
			probs = append(probs, fmt.Sprintf("middleware: %q is the backend", m))
		case seen[m]:
			probs = append(probs, fmt.Sprintf("middleware: %q is listed twice", m))
		}
		seen[m] = true
	}
	for name, p := range c.Plugins {
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
	if len(probs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(probs, "; "))
}

// Plugin returns the configuration of the named plugin (empty if none).
func (c Config) Plugin(name string) Plugin { return c.Plugins[name] }
