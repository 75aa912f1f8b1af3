package config

import (
	"reflect"
	"sort"
	"strings"
	"time"
)

// Redacted is what Show prints in place of a secret.
const Redacted = "<redacted>"

// secretKeys are config keys whose values are secrets wherever they
// appear (a key ending in _password, _secret or _token is one too).
var secretKeys = map[string]bool{"password": true, "secret": true, "token": true, "key": true, "passphrase": true, "credentials": true}

// secretParts are words that make any key containing them a secret.
var secretParts = []string{"pass", "secret", "token", "credential", "private", "auth"}

// IsSecret reports whether a config key holds a secret.
func IsSecret(key string) bool {
	k := strings.ToLower(key)
	if secretKeys[k] {
		return true
	}
	for _, p := range secretParts {
		if strings.Contains(k, p) {
			return true
		}
	}
	return false
}

// Show returns c as the nested map of its keys (as the YAML file spells
// them), with every secret replaced by Redacted and durations spelled as
// in the file ("15s").
func Show(c Config) map[string]any {
	return show(reflect.ValueOf(c), "").(map[string]any)
}

func show(v reflect.Value, key string) any {
	if key != "" && IsSecret(key) && !v.IsZero() && isLeaf(v) {
		return Redacted
	}
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return show(v.Elem(), key)
	case reflect.Struct:
		out := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			name := f.Tag.Get("koanf")
			if name == "" || !f.IsExported() {
				continue
			}
			out[name] = show(v.Field(i), name)
		}
		return out
	case reflect.Map:
		out := map[string]any{}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			out[k.String()] = show(v.MapIndex(k), k.String())
		}
		return out
	case reflect.Slice:
		if v.IsNil() {
			return []any{}
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = show(v.Index(i), key)
		}
		return out
	}
	return v.Interface()
}

// isLeaf reports whether v holds a value rather than more keys: only
// values are secrets, so that a list named like a secret (tokens) is shown
// with the secrets inside it redacted.
func isLeaf(v reflect.Value) bool {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return true
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Map, reflect.Slice, reflect.Array, reflect.Struct:
		return v.Type() == reflect.TypeOf(time.Duration(0))
	}
	return true
}
