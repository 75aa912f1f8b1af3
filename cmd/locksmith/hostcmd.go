package main

import (
	"context"
	"encoding/json"
	"io"
	"time"

	"github.com/locksmithx/locksmith/host"
)

// inspectTimeout bounds the read-only commands (status, tree, plugins).
const inspectTimeout = 30 * time.Second

// withHost loads the config, starts a host for a read-only command, runs
// fn with it and closes it.
func withHost(g *globals, fn func(ctx context.Context, h *host.Host) error) error {
	cfg, err := g.loadRequestConfig(nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), inspectTimeout)
	defer cancel()
	h, err := openHost(ctx, cfg, exitFailure)
	if err != nil {
		return err
	}
	defer h.Close()
	return fn(g.requestContext(ctx, cfg), h)
}

// writeJSON prints v as indented JSON.
func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
