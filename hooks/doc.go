// Package hooks is the lifecycle of a lock operation as hooks see it: the
// points an operation passes (before and after acquire, convert, release
// and status; after a session renewal; when a lease is lost; when a
// followed resource changes), what a hook may do at each (deny with a
// reason, rewrite the request's metadata, answer or transform a read,
// observe a result), and the Chain that runs the hooks in order.
//
// Two kinds of hook share one chain: in-process Go hooks (a Hook a program
// registers with the host) and middleware plugins (a sdk.Middleware in its
// own process, adapted by Plugin). BEFORE runs the chain in its order,
// AFTER in reverse, and each hook is called only at the points it
// declares.
package hooks
