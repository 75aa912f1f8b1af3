// Package audit is Locksmith's audit middleware: one JSON line per
// operation, appended to a log whose every line carries the SHA-256 of the
// line before it, so that Verify finds the first line that was edited,
// removed or reordered, and a truncated end. The log rotates by size and
// the chain continues across its files. The middleware runs only AFTER
// operations (and when a lease is lost): it records denials by the
// middleware before it, and never refuses anything itself.
package audit
