package sdk

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/go-plugin"
)

// ProtocolVersion is the newest plugin protocol version this package speaks.
// Hosts negotiate it through go-plugin's VersionedPlugins, so a later
// version can be added beside version 1 without breaking existing plugins.
// Version 2 adds what middleware needs to see the whole lifecycle: the
// points a middleware declares in its Info, and a read's answer, latency,
// pid, host and revision in each interception. Its messages are version
// 1's with fields added, so both are served alike.
const ProtocolVersion = 2

// handshake is the go-plugin handshake every Locksmith plugin and host share.
// It is a UX feature, not a security one: it stops a plugin binary from
// being run by hand by mistake. It and versionedPlugins are go-plugin
// types, so they stay inside the package: a host uses Launch, a plugin
// ServeBackend or ServeMiddleware, and neither sees go-plugin. The one
// type of go-plugin's family the API names is hclog.Logger (WithLogger,
// WithHostLogger): go-plugin's logging interface, through which a plugin's
// output reaches its host.
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "LOCKSMITH_PLUGIN",
	MagicCookieValue: "8c1f5a3e2b7d4e96a0c9f4b1d2e3a7c5",
}

// versionedPlugins returns the plugin sets a host passes to go-plugin's
// ClientConfig.VersionedPlugins: every protocol version the host speaks,
// each with the backend and middleware plugin kinds, named by their Kind.
func versionedPlugins() map[int]plugin.PluginSet {
	out := map[int]plugin.PluginSet{}
	for v := 1; v <= ProtocolVersion; v++ {
		out[v] = plugin.PluginSet{
			string(KindBackend):    &backendPlugin{},
			string(KindMiddleware): &middlewarePlugin{},
		}
	}
	return out
}

// supportedVersions spells the protocol versions this package speaks: "1",
// "1 and 2", "1, 2 and 3".
func supportedVersions() string {
	var vs []int
	for v := range versionedPlugins() {
		vs = append(vs, v)
	}
	sort.Ints(vs)
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprint(v)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
