// Command locksmith is Locksmith's CLI: it runs commands under a lock
// (`locksmith exec`), shows who holds what (`status`), lists plugins, and
// serves the built-in plugins to itself (`plugin serve`).
package main

import (
	"os"
	"runtime"
)

func main() {
	// The CLI waits on its plugin and its command; one CPU spares the Go
	// scheduler's cross-CPU wake-ups, which cost more than they give here
	// (see sdk.WithMaxProcs). GOMAXPROCS in the environment still wins.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	os.Exit(run(os.Args[1:]))
}
