package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
)

// Kind says which contract a plugin implements.
type Kind string

// The plugin kinds.
const (
	KindBackend    Kind = "backend"
	KindMiddleware Kind = "middleware"
)

// Capabilities a backend may announce in [PluginInfo].
const (
	// CapWatch: Watch pushes changes; without it the host polls.
	CapWatch = "watch"
	// CapPersistent: revisions survive a restart of the store.
	CapPersistent = "persistent"
	// CapDistributed: the store is shared by several machines.
	CapDistributed = "distributed"
	// CapRepair: Check and Repair find and fix damaged state.
	CapRepair = "repair"
	// CapAdopt: the backend implements SessionAdopter, so a session
	// survives a crash of the plugin process: the restarted plugin adopts
	// it and its leases are kept.
	CapAdopt = "adopt"
	// CapDeleteRange: Delete answers WithRange with the resource's
	// entries at the delete's revision, so that a host can hand a lock to
	// its own next waiter at once, without waiting for the watch.
	CapDeleteRange = "delete_range"
	// CapBatch: the plugin serves Batch (see Batcher), many writes in one
	// call. The sdk serves it for every backend plugin and announces it
	// itself; a store need not name it.
	CapBatch = "batch"
)

// PluginInfo describes a plugin to its host.
type PluginInfo struct {
	Name         string
	Version      string
	Kind         Kind
	Capabilities []string
	// ConfigSchema is a JSON schema of the plugin's config section, or "".
	ConfigSchema string
	// Warnings are guarantees the plugin cannot keep in its current
	// configuration (for example: revisions do not survive a restart). The
	// host logs them at start-up and shows them in `locksmith plugins`.
	Warnings []string
	// Points are the lifecycle points a middleware is called at (hooks
	// package names: "before_acquire", "after_status", "on_lost", …);
	// none means every point.
	Points []string
}

// Has reports whether the plugin announced capability c.
func (i PluginInfo) Has(c string) bool {
	for _, x := range i.Capabilities {
		if x == c {
			return true
		}
	}
	return false
}

// Config is a plugin's section of the host config, as decoded from YAML or
// JSON: a map of strings to strings, numbers, booleans, lists and maps.
type Config map[string]any

// Decode decodes c into the struct pointed to by v with strict field
// checking. An unknown key, or a value of the wrong type, is an error
// wrapped in ErrInvalidConfig whose message begins with the key's path in
// the section ("paht: unknown key; known keys: history, path"), so that the
// host can name it in full (plugins.NAME.config.paht).
func (c Config) Decode(v any) error {
	raw, err := json.Marshal(c)
	if err != nil {
		return Errorf(CodeInvalidConfig, "encode config: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te) && te.Field != "":
		return Errorf(CodeInvalidConfig, "%s: want %s, got a JSON %s", te.Field, te.Type, te.Value)
	}
	if key, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		key = strings.Trim(key, `"`)
		if known := jsonKeys(v); len(known) > 0 {
			return Errorf(CodeInvalidConfig, "%s: unknown key; known keys: %s", key, strings.Join(known, ", "))
		}
		return Errorf(CodeInvalidConfig, "%s: unknown key", key)
	}
	return Errorf(CodeInvalidConfig, "%v", err)
}

// jsonKeys lists the JSON keys of the struct v points to, sorted.
func jsonKeys(v any) []string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Plugin is what every plugin implements, backend or middleware.
type Plugin interface {
	// Info describes the plugin. It may be called before Configure.
	Info(ctx context.Context) (PluginInfo, error)
	// Configure hands the plugin its config section. It is called once,
	// before any other call but Info; an invalid config returns an error
	// with CodeInvalidConfig that names the offending key.
	Configure(ctx context.Context, cfg Config) error
	// Health reports whether the plugin can serve requests now.
	Health(ctx context.Context) error
}

// Closer is implemented by plugins that hold resources to release when the
// plugin process stops.
type Closer interface {
	Close() error
}
