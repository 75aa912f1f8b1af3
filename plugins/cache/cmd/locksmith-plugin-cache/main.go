// Command locksmith-plugin-cache serves Locksmith's read cache middleware
// as a plugin process. The host starts it; it is not meant to be run by
// hand.
package main

import (
	"github.com/locksmithx/locksmith/plugins/cache"
	"github.com/locksmithx/locksmith/sdk"
)

func main() { sdk.ServeMiddleware(cache.New()) }
