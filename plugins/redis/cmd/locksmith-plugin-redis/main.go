// Command locksmith-plugin-redis is the Redis backend plugin of Locksmith.
// The host starts it; it is not meant to be run by hand.
package main

import (
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/locksmithx/locksmith/plugins/redis"
	"github.com/locksmithx/locksmith/sdk"
)

func main() {
	log := hclog.New(&hclog.LoggerOptions{Name: "redis", Level: hclog.Info, Output: os.Stderr, JSONFormat: true})
	redis.LogTo(log.Named("go-redis"))
	sdk.ServeBackend(redis.New(redis.WithLogger(log)), sdk.WithLogger(log))
}
