package redis

import (
	"strings"
)

// keyspace names the keys and channels of one store (one prefix).
type keyspace struct {
	prefix string
}

// resourceKeys are the keys of one resource, all in the slot of its hash
// tag, in the order the resource scripts take them.
type resourceKeys struct {
	base    string
	rev     string
	meta    string
	val     string
	log     string
	channel string
}

var tagEscaper = strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D")
var tagUnescaper = strings.NewReplacer("%25", "%", "%7B", "{", "%7D", "}")

func (k keyspace) resource(name string) resourceKeys {
	base := k.prefix + "{" + tagEscaper.Replace(name) + "}"
	return resourceKeys{
		base:    base,
		rev:     base + ":rev",
		meta:    base + ":meta",
		val:     base + ":val",
		log:     base + ":log",
		channel: base + ":ch",
	}
}

func (r resourceKeys) keys() []string { return []string{r.rev, r.meta, r.val, r.log} }

// resourceOf returns the resource a resource key belongs to, and whether
// key is one.
func (k keyspace) resourceOf(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, k.prefix+"{")
	if !ok {
		return "", false
	}
	i := strings.LastIndex(rest, "}:")
	if i < 0 {
		return "", false
	}
	return tagUnescaper.Replace(rest[:i]), true
}

// sessionPrefix starts every session key; the scripts build session keys
// from it as sessionPrefix + "{" + id + "}".
func (k keyspace) sessionPrefix() string { return k.prefix + "s:" }

func (k keyspace) session(id string) string { return k.sessionPrefix() + "{" + id + "}" }

func (k keyspace) sessionResources(id string) string { return k.session(id) + ":r" }

func (k keyspace) registry() string { return k.prefix + "sessions" }

var globEscaper = strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`, "]", `\]`)

// metaPattern matches the meta key of every resource, for SCAN.
func (k keyspace) metaPattern() string { return globEscaper.Replace(k.prefix) + "{*}:meta" }
