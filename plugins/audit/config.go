package audit

import (
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

// Levels: what a line records.
const (
	// LevelBasic records the operations that change lock state (acquire,
	// convert, release, repair) and lost leases.
	LevelBasic = "basic"
	// LevelDetailed adds reads (status, check).
	LevelDetailed = "detailed"
	// LevelFull adds each request's metadata, as the chain hands it to
	// the backend (encrypted when crypto runs before audit).
	LevelFull = "full"
)

// Fsync policies.
const (
	// FsyncAlways syncs each line to disk before the operation returns.
	FsyncAlways = "always"
	// FsyncInterval syncs at most every fsync_interval.
	FsyncInterval = "interval"
	// FsyncNever leaves syncing to the operating system.
	FsyncNever = "never"
)

// Config is the plugin's config section.
type Config struct {
	// Path is the log file (required). Rotated files are PATH.1, PATH.2, …
	// (oldest first); PATH.head holds the sequence number and hash of the
	// last line.
	Path string `json:"path"`
	// Level is basic, detailed (the default) or full.
	Level string `json:"level"`
	// Fsync is always (the default), interval or never.
	Fsync string `json:"fsync"`
	// FsyncInterval is the interval of fsync: interval (default 1s).
	FsyncInterval string `json:"fsync_interval"`
	// MaxSize rotates the log when a line would take it past this many
	// bytes; 0 (the default) never rotates.
	MaxSize int64 `json:"max_size"`
}

type settings struct {
	Config
	interval time.Duration
}

// parseConfig decodes and checks cfg; errors name the key.
func parseConfig(cfg sdk.Config) (settings, error) {
	var s settings
	if err := cfg.Decode(&s.Config); err != nil {
		return s, err
	}
	if s.Path == "" {
		return s, sdk.Errorf(sdk.CodeInvalidConfig, "path: required (the audit log file)")
	}
	switch s.Level {
	case "":
		s.Level = LevelDetailed
	case LevelBasic, LevelDetailed, LevelFull:
	default:
		return s, sdk.Errorf(sdk.CodeInvalidConfig, "level: %q is not basic, detailed or full", s.Level)
	}
	switch s.Fsync {
	case "":
		s.Fsync = FsyncAlways
	case FsyncAlways, FsyncInterval, FsyncNever:
	default:
		return s, sdk.Errorf(sdk.CodeInvalidConfig, "fsync: %q is not always, interval or never", s.Fsync)
	}
	s.interval = time.Second
	if s.FsyncInterval != "" {
		d, err := time.ParseDuration(s.FsyncInterval)
		if err != nil || d <= 0 {
			return s, sdk.Errorf(sdk.CodeInvalidConfig, "fsync_interval: %q is not a positive duration", s.FsyncInterval)
		}
		s.interval = d
	}
	if s.MaxSize < 0 {
		return s, sdk.Errorf(sdk.CodeInvalidConfig, "max_size: %d is negative", s.MaxSize)
	}
	if s.MaxSize > 0 && s.MaxSize < 1024 {
		return s, sdk.Errorf(sdk.CodeInvalidConfig, "max_size: %d is too small (at least 1024 bytes)", s.MaxSize)
	}
	return s, nil
}
