// Command locksmith-plugin-memory serves the in-memory example backend as a
// Locksmith plugin. The host starts it; it is not meant to be run by hand.
package main

import (
	"github.com/locksmithx/locksmith/examples/memory-backend/memstore"
	"github.com/locksmithx/locksmith/sdk"
)

func main() { sdk.ServeBackend(memstore.New()) }
