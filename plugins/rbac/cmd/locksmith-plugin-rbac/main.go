// Command locksmith-plugin-rbac serves Locksmith's RBAC middleware as a
// plugin process. The host starts it; it is not meant to be run by hand.
package main

import (
	"github.com/locksmithx/locksmith/plugins/rbac"
	"github.com/locksmithx/locksmith/sdk"
)

func main() { sdk.ServeMiddleware(rbac.New()) }
