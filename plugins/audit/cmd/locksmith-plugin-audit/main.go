// Command locksmith-plugin-audit serves Locksmith's audit middleware as a
// plugin process. The host starts it; it is not meant to be run by hand.
package main

import (
	"github.com/locksmithx/locksmith/plugins/audit"
	"github.com/locksmithx/locksmith/sdk"
)

func main() { sdk.ServeMiddleware(audit.New()) }
