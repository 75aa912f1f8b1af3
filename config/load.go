package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix starts every environment variable the config reads.
const EnvPrefix = "LOCKSMITH_"

// envKeys maps the environment variables the config reads to their keys.
// Only these are read: other LOCKSMITH_* variables (LOCKSMITH_FENCING_TOKEN
// in an exec child, a plugin's own secrets) are not config.
var envKeys = map[string]string{
	"LOCKSMITH_BACKEND":    "backend",
	"LOCKSMITH_PLUGIN_DIR": "plugin_dir",
	"LOCKSMITH_LEASE_TTL":  "lease.ttl",
	"LOCKSMITH_LOG_LEVEL":  "log.level",
	"LOCKSMITH_LISTEN":     "server.listen",
}

// Sources says where Load reads from, besides the defaults.
type Sources struct {
	// File is a YAML file; "" for none. A named file that does not exist is
	// an error.
	File string
	// Environ lists environment variables as "K=V"; nil means os.Environ.
	Environ []string
	// Overrides are flag values by key ("backend", "lease.ttl"); they win
	// over everything else.
	Overrides map[string]any
}

// Load builds a Config from defaults, the YAML file, the environment and
// the overrides, decodes it strictly and validates it. Errors wrap
// ErrInvalid and name the file and key at fault.
func Load(src Sources) (Config, error) {
	k := koanf.New(".")
	def := Default()
	if err := k.Load(confmap.Provider(map[string]any{
		"backend":   def.Backend,
		"lease.ttl": def.Lease.TTL.String(),
		"log.level": def.Log.Level,
		"server": map[string]any{
			"listen": def.Server.Listen, "rate_limit": def.Server.RateLimit, "burst": def.Server.Burst,
			"max_body": def.Server.MaxBody, "lease_ttl": def.Server.LeaseTTL.String(),
			"max_wait": def.Server.MaxWait.String(),
		},
	}, "."), nil); err != nil {
		return Config{}, fmt.Errorf("%w: defaults: %v", ErrInvalid, err)
	}
	if src.File != "" {
		if _, err := os.Stat(src.File); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return Config{}, fmt.Errorf("%w: config file %s does not exist", ErrInvalid, src.File)
			}
			return Config{}, fmt.Errorf("%w: config file: %v", ErrInvalid, err)
		}
		if err := k.Load(file.Provider(src.File), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("%w: config file %s: %v", ErrInvalid, src.File, err)
		}
		if err := migrationShape(k); err != nil {
			return Config{}, fmt.Errorf("%w: config file %s: %v", ErrInvalid, src.File, err)
		}
	}
	environ := src.Environ
	if environ == nil {
		environ = os.Environ()
	}
	if err := k.Load(env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(key, v string) (string, any) {
			return envKeys[key], strings.TrimSpace(v)
		},
	}), nil); err != nil {
		return Config{}, fmt.Errorf("%w: environment: %v", ErrInvalid, err)
	}
	if len(src.Overrides) > 0 {
		if err := k.Load(confmap.Provider(src.Overrides, "."), nil); err != nil {
			return Config{}, fmt.Errorf("%w: flags: %v", ErrInvalid, err)
		}
	}

	var c Config
	err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{DecoderConfig: &mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.StringToTimeDurationHookFunc(),
		ErrorUnused:      true,
		WeaklyTypedInput: true,
		TagName:          "koanf",
	}})
	if err != nil {
		where := "config"
		if src.File != "" {
			where = src.File
		}
		return Config{}, fmt.Errorf("%w: %s: %v", ErrInvalid, where, err)
	}
	if c.Plugins == nil {
		c.Plugins = map[string]Plugin{}
	}
	if src.File != "" {
		abs, err := filepath.Abs(src.File)
		if err != nil {
			return Config{}, fmt.Errorf("%w: config file %s: %v", ErrInvalid, src.File, err)
		}
		c.Dir = filepath.Dir(abs)
	}
	for name, p := range c.Plugins {
		p.SHA256 = strings.ToLower(p.SHA256)
		c.Plugins[name] = p
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// migrationShape rewrites `backend: { from: OLD, to: NEW }` as
// `backend: NEW` and `migrate_from: OLD`.
func migrationShape(k *koanf.Koanf) error {
	m, ok := k.Get("backend").(map[string]any)
	if !ok {
		return nil
	}
	from, _ := m["from"].(string)
	to, _ := m["to"].(string)
	for key := range m {
		if key != "from" && key != "to" {
			return fmt.Errorf("backend.%s: unknown key (a migration is backend: { from: OLD, to: NEW })", key)
		}
	}
	if from == "" || to == "" {
		return errors.New("backend: a migration names both backends: backend: { from: OLD, to: NEW }")
	}
	k.Delete("backend")
	if err := k.Set("backend", to); err != nil {
		return err
	}
	return k.Set("migrate_from", from)
}
