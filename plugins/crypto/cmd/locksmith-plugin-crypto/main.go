// Command locksmith-plugin-crypto serves Locksmith's encryption middleware
// as a plugin process. The host starts it; it is not meant to be run by
// hand.
package main

import (
	"github.com/locksmithx/locksmith/plugins/crypto"
	"github.com/locksmithx/locksmith/sdk"
)

func main() { sdk.ServeMiddleware(crypto.New()) }
