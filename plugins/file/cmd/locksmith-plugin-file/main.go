// Command locksmith-plugin-file serves Locksmith's file backend as a
// plugin process. The host starts it; it is not meant to be run by hand.
package main

import (
	"github.com/locksmithx/locksmith/plugins/file"
	"github.com/locksmithx/locksmith/sdk"
)

func main() { sdk.ServeBackend(file.New()) }
