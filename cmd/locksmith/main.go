// Command locksmith is Locksmith's CLI: it runs commands under a lock
// (`locksmith exec`), shows who holds what (`status`), lists plugins, and
// serves the built-in plugins to itself (`plugin serve`).
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}
