package file

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// Config is the file backend's config section. Every field is optional.
type Config struct {
	// NamedDir holds the state files of named locks (resources that are not
	// absolute paths). Default: $XDG_STATE_HOME/locksmith/named, else
	// ~/.local/state/locksmith/named, else /tmp/locksmith-<uid>/named.
	NamedDir string `json:"named_dir"`
	// SessionDir holds one file per open session, locked by the process
	// that owns the session. Every process sharing a resource must use the
	// same directory. Default: /tmp/locksmith-sessions.
	SessionDir string `json:"session_dir"`
	// PollInterval bounds how long a watch goes without re-reading its
	// state file when no change notification arrives. Default: 250ms.
	PollInterval string `json:"poll_interval"`
	// ProbeInterval is how often a watch checks that the sessions of its
	// resource's entries are alive. Default: 50ms.
	ProbeInterval string `json:"probe_interval"`
	// Suffix is appended to a file resource's path to name its state file.
	// Default: ".locksmith".
	Suffix string `json:"suffix"`
}

// settings is a validated Config.
type settings struct {
	namedDir      string
	sessionDir    string
	pollInterval  time.Duration
	probeInterval time.Duration
	suffix        string
}

// configSchema is the JSON schema of Config, announced in Info.
const configSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "locksmith file backend",
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "named_dir":      {"type": "string", "description": "directory of named locks' state files (absolute path)"},
    "session_dir":    {"type": "string", "description": "machine-wide directory of session files (absolute path); shared by every process using the same resources"},
    "poll_interval":  {"type": "string", "description": "safety-net re-read period of a watch, a Go duration between 1ms and 1m; where wake-ups are not events (not Linux, or the wake-up words are broken) a watch re-reads every 250ms at most", "default": "5s"},
    "probe_interval": {"type": "string", "description": "how often a watch checks that entry owners are alive where it cannot wait for their end, a Go duration between 1ms and 10s", "default": "50ms"},
    "suffix":         {"type": "string", "description": "appended to a file resource's path to name its state file", "default": ".locksmith"}
  }
}`

// defaultNamedDir picks a persistent per-user directory, so that named
// locks keep their revisions across reboots.
func defaultNamedDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "locksmith", "named")
	}
	if h, err := os.UserHomeDir(); err == nil && filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "locksmith", "named")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("locksmith-%d", os.Getuid()), "named")
}

const defaultSessionDir = "/tmp/locksmith-sessions"

// parseConfig decodes cfg strictly and validates it.
func parseConfig(cfg sdk.Config) (settings, error) {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return settings{}, err
	}
	s := settings{
		namedDir:      c.NamedDir,
		sessionDir:    c.SessionDir,
		suffix:        c.Suffix,
		pollInterval:  5 * time.Second,
		probeInterval: 50 * time.Millisecond,
	}
	if s.namedDir == "" {
		s.namedDir = defaultNamedDir()
	}
	if s.sessionDir == "" {
		s.sessionDir = defaultSessionDir
	}
	if s.suffix == "" {
		s.suffix = ".locksmith"
	}
	for key, dir := range map[string]*string{"named_dir": &s.namedDir, "session_dir": &s.sessionDir} {
		if !filepath.IsAbs(*dir) {
			return settings{}, sdk.Errorf(sdk.CodeInvalidConfig, "%s: %q is not an absolute path", key, *dir)
		}
		*dir = filepath.Clean(*dir)
	}
	if strings.ContainsAny(s.suffix, "/\x00") || s.suffix == "." || s.suffix == ".." {
		return settings{}, sdk.Errorf(sdk.CodeInvalidConfig, "suffix: %q must be a file name suffix without '/'", s.suffix)
	}
	var err error
	if s.pollInterval, err = parseInterval("poll_interval", c.PollInterval, s.pollInterval, time.Millisecond, time.Minute); err != nil {
		return settings{}, err
	}
	if s.probeInterval, err = parseInterval("probe_interval", c.ProbeInterval, s.probeInterval, time.Millisecond, 10*time.Second); err != nil {
		return settings{}, err
	}
	return s, nil
}

func parseInterval(key, v string, def, lo, hi time.Duration) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, sdk.Errorf(sdk.CodeInvalidConfig, "%s: %q is not a duration (use e.g. \"250ms\")", key, v)
	}
	if d < lo || d > hi {
		return 0, sdk.Errorf(sdk.CodeInvalidConfig, "%s: %s is out of range [%s, %s]", key, d, lo, hi)
	}
	return d, nil
}
