package sdk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// Conn is a host's connection to one running plugin process.
type Conn struct {
	client  *plugin.Client
	raw     any
	anchors *anchorChannel
}

// DefaultStartTimeout is how long Launch waits for a plugin to complete
// its handshake before it refuses it (see WithStartTimeout).
const DefaultStartTimeout = 10 * time.Second

// Errors of Launch.
var (
	// ErrNotPlugin: the program started as a plugin is not one: it exited,
	// printed something else, or said nothing before its handshake was
	// due.
	ErrNotPlugin = errors.New("not a Locksmith plugin")
	// ErrWrongKind: the plugin serves another kind than the one asked for
	// (a middleware started as a backend, say).
	ErrWrongKind = errors.New("wrong kind of plugin")
	// ErrProtocol: the plugin speaks a plugin protocol version this
	// package does not (see ProtocolVersion); the error names both.
	ErrProtocol = errors.New("unsupported plugin protocol version")
	// ErrChecksum: the plugin binary's SHA-256 is not the one given with
	// WithChecksum; it was not started.
	ErrChecksum = errors.New("plugin checksum mismatch")
)

// LaunchOpt is an optional setting of Launch.
type LaunchOpt func(*launchConfig)

// launchConfig holds Launch's optional settings. It keeps go-plugin's own
// configuration out of this package's API.
type launchConfig struct {
	logger       hclog.Logger
	startTimeout time.Duration
	checksum     []byte
}

// WithChecksum makes Launch verify the plugin binary's SHA-256 before it
// runs it: Launch opens the binary once, hashes that open descriptor and,
// on Linux, executes the very file it hashed (/proc/self/fd/N), so the
// binary is read once per launch and a swap of the file between the check
// and the exec cannot slip another program in. A mismatch fails Launch
// with an error wrapping ErrChecksum that names both sums; nothing runs.
func WithChecksum(sum []byte) LaunchOpt {
	return func(c *launchConfig) { c.checksum = append([]byte(nil), sum...) }
}

// WithHostLogger sets the logger the plugin's output is forwarded to, and
// tells the plugin its level (LogLevelEnv), so that the plugin does not
// even send what the logger would drop. hclog is the logging interface of
// go-plugin, through which a plugin's output reaches its host; it is the
// one go-plugin type this package's API names.
func WithHostLogger(l hclog.Logger) LaunchOpt {
	return func(c *launchConfig) { c.logger = l }
}

// WithStartTimeout sets how long Launch waits for the plugin's handshake
// (default DefaultStartTimeout).
func WithStartTimeout(d time.Duration) LaunchOpt {
	return func(c *launchConfig) { c.startTimeout = d }
}

// Launch starts the plugin command cmd, which must serve the plugin kind
// kind, and connects to it over gRPC with mutual TLS on fresh keys (see
// tls.go). A backend also gets an anchor channel (see anchor.go). A program
// that does not complete the handshake within the start timeout, or that
// serves another kind, is stopped and refused with a one-line error
// wrapping ErrNotPlugin or ErrWrongKind. The caller owns the returned Conn and must Kill
// it.
func Launch(cmd *exec.Cmd, kind Kind, opts ...LaunchOpt) (*Conn, error) {
	lc := launchConfig{logger: hclog.NewNullLogger(), startTimeout: DefaultStartTimeout}
	for _, o := range opts {
		o(&lc)
	}
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	if lvl := lc.logger.GetLevel(); lvl != hclog.NoLevel {
		cmd.Env = append(cmd.Env, LogLevelEnv+"="+lvl.String())
	}
	if lc.checksum != nil {
		bin, err := verifiedBinary(cmd, lc.checksum)
		if err != nil {
			return nil, err
		}
		// The child has its copy once it started; ours goes either way.
		defer bin.Close()
	}
	tlsConfig, bundle, err := hostTLS()
	if err != nil {
		return nil, fmt.Errorf("start plugin %s: TLS: %w", cmd.Path, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start plugin %s: %w", cmd.Path, err)
	}
	defer r.Close()
	// The bundle is far below a pipe's buffer: write it whole, close our
	// end, and the plugin reads it to EOF.
	_, err = w.Write(bundle)
	w.Close()
	if err != nil {
		return nil, fmt.Errorf("start plugin %s: pass TLS material: %w", cmd.Path, err)
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, r)
	cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", tlsFDEnv, 2+len(cmd.ExtraFiles)))
	var anchors *anchorChannel
	if kind == KindBackend {
		ch, peer, err := newAnchorPair()
		if err != nil {
			return nil, fmt.Errorf("start plugin %s: %w", cmd.Path, err)
		}
		if ch != nil {
			anchors = ch
			defer peer.Close()
			cmd.ExtraFiles = append(cmd.ExtraFiles, peer)
			cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", anchorFDEnv, 2+len(cmd.ExtraFiles)))
		}
	}

	cfg := &plugin.ClientConfig{
		HandshakeConfig:  handshake,
		VersionedPlugins: versionedPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		TLSConfig:        tlsConfig,
		Logger:           lc.logger,
		StartTimeout:     lc.startTimeout,
	}
	client := plugin.NewClient(cfg)
	fail := func(err error) (*Conn, error) {
		killLaunchGroup(cmd)
		client.Kill()
		anchors.close()
		return nil, err
	}
	proto, err := client.Client()
	if err != nil {
		return fail(launchErr(cmd.Path, err))
	}
	raw, err := proto.Dispense(string(kind))
	if err != nil {
		return fail(fmt.Errorf("start plugin %s: %w", cmd.Path, err))
	}
	// go-plugin's Dispense does not ask the plugin what it serves: ask.
	p, ok := raw.(Plugin)
	if !ok {
		return fail(fmt.Errorf("start plugin %s: %w: no %s client", cmd.Path, ErrNotPlugin, kind))
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.StartTimeout)
	info, err := p.Info(ctx)
	cancel()
	if err != nil {
		return fail(fmt.Errorf("start plugin %s: %w: it does not answer Info: %s", cmd.Path, ErrNotPlugin, firstLine(err.Error())))
	}
	if info.Kind != kind {
		return fail(fmt.Errorf("start plugin %s: %w: it is a %s plugin, not a %s", cmd.Path, ErrWrongKind, orNone(string(info.Kind)), kind))
	}
	if bc, ok := raw.(*backendClient); ok {
		bc.anchors = anchors
	}
	return &Conn{client: client, raw: raw, anchors: anchors}, nil
}

// launchErr is the one-line error of a plugin that did not start: a
// handshake that failed or never came wraps ErrNotPlugin.
func launchErr(path string, err error) error {
	var ee *exec.Error
	var pe *fs.PathError
	if errors.As(err, &ee) || errors.As(err, &pe) {
		return fmt.Errorf("start plugin %s: %w", path, err)
	}
	msg := firstLine(err.Error())
	var theirs int
	if _, serr := fmt.Sscanf(msg, "incompatible API version with plugin. Plugin version: %d", &theirs); serr == nil {
		return fmt.Errorf("start plugin %s: %w: it speaks protocol version %d, this host speaks %s; rebuild the plugin against an sdk of this host's version",
			path, ErrProtocol, theirs, supportedVersions())
	}
	switch {
	case msg == "plugin exited before we could connect":
		msg = "it exited before its handshake"
	case strings.HasPrefix(msg, "timeout while waiting"):
		msg = "no handshake within the start timeout"
	case strings.HasPrefix(msg, "Unrecognized remote plugin message:"):
		if out := strings.TrimSpace(strings.TrimPrefix(msg, "Unrecognized remote plugin message:")); out != "" {
			msg = fmt.Sprintf("it printed %q instead of a handshake", out)
		} else {
			msg = "it exited without a handshake"
		}
	}
	return fmt.Errorf("start plugin %s: %w: %s", path, ErrNotPlugin, msg)
}

// firstLine is s up to its first line break.
func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

func orNone(s string) string {
	if s == "" {
		return "kindless"
	}
	return s
}

// Backend returns the plugin as a Backend, or nil if it serves another kind.
func (c *Conn) Backend() Backend {
	b, _ := c.raw.(Backend)
	return b
}

// Middleware returns the plugin as a Middleware, or nil if it serves
// another kind.
func (c *Conn) Middleware() Middleware {
	m, _ := c.raw.(Middleware)
	return m
}

// Exited reports whether the plugin process has exited.
func (c *Conn) Exited() bool { return c.client.Exited() }

// Pid is the plugin's process id, or 0 if it is not known.
func (c *Conn) Pid() int {
	if rc := c.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// Protocol is the protocol version negotiated with the plugin.
func (c *Conn) Protocol() int { return c.client.NegotiatedVersion() }

// Kill stops the plugin: gracefully first, then by force, and closes the
// anchor channel. It can safely be called more than once.
func (c *Conn) Kill() {
	c.client.Kill()
	c.anchors.close()
}
