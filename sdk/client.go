package sdk

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
)

// Conn is a host's connection to one running plugin process.
type Conn struct {
	client *plugin.Client
	raw    any
}

// LaunchOpt is an optional setting of Launch.
type LaunchOpt func(*plugin.ClientConfig)

// WithChecksum makes Launch verify the plugin binary's SHA-256 before it
// runs it (go-plugin's SecureConfig). A mismatch fails Launch with an error
// wrapping plugin.ErrChecksumsDoNotMatch.
func WithChecksum(sum []byte) LaunchOpt {
	return func(c *plugin.ClientConfig) {
		c.SecureConfig = &plugin.SecureConfig{Checksum: sum, Hash: sha256.New()}
	}
}

// WithHostLogger sets the logger the plugin's output is forwarded to, and
// tells the plugin its level (LogLevelEnv), so that the plugin does not
// even send what the logger would drop.
func WithHostLogger(l hclog.Logger) LaunchOpt {
	return func(c *plugin.ClientConfig) {
		c.Logger = l
		if c.Cmd != nil && l.GetLevel() != hclog.NoLevel {
			c.Cmd.Env = append(c.Cmd.Env, LogLevelEnv+"="+l.GetLevel().String())
		}
	}
}

// Launch starts the plugin command cmd, which must serve the plugin kind
// named by kind (PluginBackend or PluginMiddleware), and connects to it over
// gRPC with mutual TLS on fresh keys (see tls.go). The caller owns the returned Conn and
// must Kill it.
func Launch(cmd *exec.Cmd, kind string, opts ...LaunchOpt) (*Conn, error) {
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
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, fmt.Sprintf("%s=%d", tlsFDEnv, 2+len(cmd.ExtraFiles)))

	cfg := &plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: VersionedPlugins(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		TLSConfig:        tlsConfig,
		Logger:           hclog.NewNullLogger(),
	}
	for _, o := range opts {
		o(cfg)
	}
	client := plugin.NewClient(cfg)
	proto, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("start plugin %s: %w", cmd.Path, err)
	}
	raw, err := proto.Dispense(kind)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("start plugin %s: %w", cmd.Path, err)
	}
	return &Conn{client: client, raw: raw}, nil
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

// Kill stops the plugin: gracefully first, then by force. It can safely be
// called more than once.
func (c *Conn) Kill() { c.client.Kill() }
