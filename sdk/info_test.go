package sdk

import (
	"errors"
	"testing"
)

// TestConfigDecodeNamesTheKey: a config error begins with the key's path
// in the section, which the host prefixes with plugins.NAME.config.
func TestConfigDecodeNamesTheKey(t *testing.T) {
	type tls struct {
		CA string `json:"ca"`
	}
	type section struct {
		Path    string `json:"path"`
		History int    `json:"history"`
		TLS     tls    `json:"tls"`
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{"paht": "x"}, "paht: unknown key; known keys: history, path, tls"},
		{Config{"history": "many"}, "history: want int, got a JSON string"},
		{Config{"tls": map[string]any{"ca": 7}}, "tls.ca: want string, got a JSON number"},
	} {
		var s section
		err := tc.cfg.Decode(&s)
		if !errors.Is(err, ErrInvalidConfig) || err.Error() != tc.want {
			t.Errorf("Decode(%v): %v, want ErrInvalidConfig %q", tc.cfg, err, tc.want)
		}
	}
}
