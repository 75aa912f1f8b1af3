package host

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"github.com/locksmithx/locksmith/config"
)

// PluginPrefix starts the file name of every plugin binary.
const PluginPrefix = "locksmith-plugin-"

// Plugin sources, in the order the catalog tries them.
const (
	SourceConfig    = "config"      // plugins.<name>.path
	SourcePluginDir = "plugin-dir"  // <plugin_dir>/locksmith-plugin-<name>
	SourceBeside    = "beside-host" // next to the host executable
	SourceBuiltin   = "built-in"    // the host binary, `plugin serve <name>`
)

// pluginSpec says how to start one plugin.
type pluginSpec struct {
	Name   string
	Path   string
	Args   []string
	Source string
	// Dir is the plugin's working directory (config.Config.Dir): relative
	// paths in its config resolve against it. "": the host's.
	Dir string
	// Sum is the configured sha256; nil when none was configured.
	Sum []byte
}

// command returns a fresh, unstarted command for the plugin.
func (s pluginSpec) command() *exec.Cmd {
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Dir = s.Dir
	setPluginProcAttr(cmd)
	return cmd
}

// catalog finds plugin binaries by name.
type catalog struct {
	cfg      config.Config
	self     string          // host executable, for built-ins
	builtins map[string]bool // names the host binary serves itself
}

// resolve finds the plugin named name: a configured path (with the sha256
// its launch will check), then the plugin dir, then beside the host
// executable, then the built-in. It does not read the binary. A relative
// path resolves against the config file's directory (config.Config.Dir),
// which is also the plugin's working directory: one rule for every
// relative path in a plugin's entry, its binary's and its config's.
func (c *catalog) resolve(name string) (pluginSpec, error) {
	spec, err := c.find(name)
	spec.Dir = c.cfg.Dir
	return spec, err
}

// find is resolve without the working directory.
func (c *catalog) find(name string) (pluginSpec, error) {
	pc := c.cfg.Plugin(name)
	if pc.Path != "" {
		path := pc.Path
		if !filepath.IsAbs(path) && c.cfg.Dir != "" {
			path = filepath.Join(c.cfg.Dir, path)
		}
		spec := pluginSpec{Name: name, Path: path, Args: pc.Args, Source: SourceConfig}
		if _, err := os.Stat(path); err != nil {
			return spec, fmt.Errorf("%w: plugins.%s.path: %v", ErrInvalidConfig, name, err)
		}
		if pc.SHA256 != "" {
			// Only the spelling is checked here: the binary is hashed
			// once, when it is launched, through the descriptor that is
			// then executed (sdk.WithChecksum), so that a file swapped
			// between the check and the exec cannot run.
			want, err := hex.DecodeString(pc.SHA256)
			if err != nil || len(want) != sha256.Size {
				return spec, fmt.Errorf("%w: plugins.%s.sha256: want %d hex digits, got %q", ErrInvalidConfig, name, 2*sha256.Size, pc.SHA256)
			}
			spec.Sum = want
		}
		return spec, nil
	}
	bin := PluginPrefix + name
	if c.cfg.PluginDir != "" {
		p := filepath.Join(c.cfg.PluginDir, bin)
		if isExecutable(p) {
			return pluginSpec{Name: name, Path: p, Args: pc.Args, Source: SourcePluginDir}, nil
		}
	}
	if c.self != "" {
		p := filepath.Join(filepath.Dir(c.self), bin)
		if isExecutable(p) {
			return pluginSpec{Name: name, Path: p, Args: pc.Args, Source: SourceBeside}, nil
		}
		if c.builtins[name] {
			return pluginSpec{Name: name, Path: c.self, Args: []string{"plugin", "serve", name}, Source: SourceBuiltin}, nil
		}
	}
	return pluginSpec{Name: name}, fmt.Errorf("%w: no plugin %q: set plugins.%s.path, or put %s in the plugin dir or beside %s (built-in: %v)",
		ErrInvalidConfig, name, name, bin, c.self, c.names())
}

// names lists the built-in plugin names.
func (c *catalog) names() []string {
	out := make([]string, 0, len(c.builtins))
	for n := range c.builtins {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// known lists every plugin the catalog can name: configured and built-in.
func (c *catalog) known() []string {
	set := map[string]bool{}
	for n := range c.cfg.Plugins {
		set[n] = true
	}
	for n := range c.builtins {
		set[n] = true
	}
	set[c.cfg.Backend] = true
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// fileSHA256 is the hex sha256 of the file at p.
func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s does not exist", p)
		}
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %v", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
