package config

import "slices"

// Redacted returns a deep copy of c fit to show: every bearer token, and
// every plugin config value whose key names a secret (IsSecret), at any
// depth, is replaced by the constant Redacted.
func (c Config) Redacted() Config {
	out := c
	out.Backends = slices.Clone(c.Backends)
	out.Middleware = slices.Clone(c.Middleware)
	out.Server.CORS = slices.Clone(c.Server.CORS)
	out.Server.Tokens = make([]Token, len(c.Server.Tokens))
	for i, t := range c.Server.Tokens {
		out.Server.Tokens[i] = Token{Principal: t.Principal, Token: Redacted}
	}
	out.Plugins = make(map[string]Plugin, len(c.Plugins))
	for name, p := range c.Plugins {
		p.Args = slices.Clone(p.Args)
		if p.Config != nil {
			p.Config = redactMap(p.Config)
		}
		out.Plugins[name] = p
	}
	return out
}

func redactMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if _, nested := v.(map[string]any); IsSecret(k) && !nested {
			out[k] = Redacted
			continue
		}
		out[k] = redactValue(v)
	}
	return out
}

func redactValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return redactMap(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = redactValue(e)
		}
		return out
	}
	return v
}
