// Command locksmith-plugin-sqlite serves the SQLite example backend as a
// Locksmith plugin. The host starts it; it is not meant to be run by hand.
package main

import (
	"example.com/locksmith-sqlite/sqlstore"
	"github.com/locksmithx/locksmith/sdk"
)

func main() { sdk.ServeBackend(sqlstore.New()) }
