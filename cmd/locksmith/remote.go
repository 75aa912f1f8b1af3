package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// remote is a client of a `locksmith serve` API.
type remote struct {
	base   string
	token  string
	client *http.Client
}

// serverFlags adds --server and --token to a read-only command.
func serverFlags(c *cobra.Command, server, token *string) {
	c.Flags().StringVar(server, "server", "", "read from a locksmith server (http://host:port) instead of a local host")
	c.Flags().StringVar(token, "token", "", "bearer token for --server (default $LOCKSMITH_TOKEN)")
}

// newRemote checks a --server URL and builds its client.
func newRemote(server, token string) (*remote, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageErr("--server wants http://host:port or https://host:port, got %q", server)
	}
	if token == "" {
		token = os.Getenv("LOCKSMITH_TOKEN")
	}
	return &remote{base: strings.TrimRight(u.String(), "/"), token: token,
		client: &http.Client{Timeout: inspectTimeout}}, nil
}

// errHTTP is an error answer of the server.
type errHTTP struct {
	status  int
	code    string
	message string
}

func (e *errHTTP) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.status, e.code, e.message)
}

// get fetches path and decodes its JSON into v. An error answer is an
// *errHTTP (exit 1, or 2 for a refused token); a server that cannot be
// reached exits 69.
func (r *remote) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.base+path, nil)
	if err != nil {
		return err
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	res, err := r.client.Do(req)
	if err != nil {
		return &exitError{code: exitUnavailable, err: fmt.Errorf("reach server %s: %w", r.base, unwrapURL(err))}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read answer of %s: %w", r.base, err)
	}
	if res.StatusCode >= 300 && res.StatusCode != http.StatusServiceUnavailable {
		var e struct{ Code, Message string }
		_ = json.Unmarshal(body, &e)
		herr := &errHTTP{status: res.StatusCode, code: e.Code, message: e.Message}
		if res.StatusCode == http.StatusUnauthorized {
			return &exitError{code: exitUsage, err: fmt.Errorf("%w (give --token or LOCKSMITH_TOKEN)", herr)}
		}
		return herr
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode answer of %s%s: %w", r.base, path, err)
	}
	return nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// humanDuration writes d for people: 850µs, 12ms, 3.2s, 4m05s, 2h03m.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}
