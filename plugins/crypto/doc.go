// Package crypto is Locksmith's encryption middleware: it seals a lock
// request's metadata (owner, purpose, user values) with AES-256-GCM BEFORE
// it reaches any backend, and opens it again AFTER a status read, so no
// backend's raw state holds the plaintext while status, tree and the Go
// API show it as written. Keys come from a key file or an environment
// variable (64 hex digits on one line) and are never logged; each has an
// id (the first 8 hex digits of its SHA-256), old keys decrypt and the
// current one encrypts. A wrong key or a tampered value is an error naming
// the resource, never garbage. It is always fail-closed.
package crypto
