// Command locksmith-plugin-consul is the Consul backend plugin of
// Locksmith. The host starts it; it is not meant to be run by hand.
package main

import (
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/plugins/consul"
	"github.com/locksmithx/locksmith/sdk"
)

func main() {
	log := hclog.New(&hclog.LoggerOptions{Name: "consul", Level: hclog.Info, Output: os.Stderr, JSONFormat: true})
	sdk.ServeBackend(consul.New(consul.WithLogger(log)), sdk.WithLogger(log))
}
