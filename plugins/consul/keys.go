package consul

import (
	"strconv"
	"strings"
)

// keyspace builds the Consul KV keys of the store under one prefix.
type keyspace struct {
	prefix string
	hist   int64
}

func (k keyspace) resources() string                   { return k.prefix + "r/" }
func (k keyspace) resource(r string) string            { return k.prefix + "r/" + encode(r) + "/" }
func (k keyspace) rev(r string) string                 { return k.resource(r) + "rev" }
func (k keyspace) entries(r string) string             { return k.resource(r) + "e/" }
func (k keyspace) entry(r, key string) string          { return k.entries(r) + encode(key) }
func (k keyspace) log(r string) string                 { return k.prefix + "l/" + encode(r) + "/" }
func (k keyspace) sessions() string                    { return k.prefix + "s/" }
func (k keyspace) session(id string) string            { return k.prefix + "s/" + id + "/" }
func (k keyspace) sessionResource(id, r string) string { return k.session(id) + encode(r) }

// slot is the ring slot of event rev.
func (k keyspace) slot(r string, rev int64) string {
	return k.log(r) + strconv.FormatInt(rev%k.hist, 10)
}

// entryKey returns the entry name of a KV key under entries(r), if it is one.
func (k keyspace) entryKey(r, kv string) (string, bool) {
	rest, ok := strings.CutPrefix(kv, k.entries(r))
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return "", false
	}
	name, err := decode(rest)
	return name, err == nil
}

// resourceOf returns the resource whose prefix is p ("<prefix>r/<R>/").
func (k keyspace) resourceOf(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, k.resources())
	if !ok {
		return "", false
	}
	rest, ok = strings.CutSuffix(rest, "/")
	if !ok || rest == "" || strings.Contains(rest, "/") {
		return "", false
	}
	name, err := decode(rest)
	return name, err == nil
}

// encode percent-encodes every byte outside [A-Za-z0-9._~-], so a name
// becomes one path segment that sorts and prefixes like the name does
// byte by byte.
func encode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-' {
			b.WriteByte(c)
			continue
		}
		const hex = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func decode(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", strconv.ErrSyntax
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", err
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}
