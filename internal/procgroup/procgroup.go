// Package procgroup answers whether a process group still has members:
// any at all (zombies included), or running ones. The host's plugins, exec
// and its local server all wait on process groups before a lock may pass
// on, and must agree on what "still running" means.
package procgroup
