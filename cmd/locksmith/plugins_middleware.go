package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/locksmithx/locksmith/host"
	"github.com/locksmithx/locksmith/sdk"
)

// printMiddleware prints the middleware among list with the lifecycle
// points each is called at.
func printMiddleware(out io.Writer, list []host.PluginStatus) error {
	var mw []host.PluginStatus
	for _, p := range list {
		if p.Kind == string(sdk.KindMiddleware) {
			mw = append(mw, p)
		}
	}
	if len(mw) == 0 {
		return nil
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MIDDLEWARE\tKIND\tVERSION\tFAIL-CLOSED\tPOINTS")
	for _, p := range mw {
		closed := "on_error"
		for _, c := range p.Capabilities {
			if c == sdk.CapFailClosed {
				closed = "always"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Kind, dash(p.Version), closed, strings.Join(p.Points, ","))
	}
	return tw.Flush()
}
