// Package sdk is the contract between the Locksmith host and its plugins.
//
// A backend plugin implements [Backend], a leased, revisioned key-value store
// with watch, and serves it from its main function with one call:
//
//	func main() { sdk.ServeBackend(myStore{}) }
//
// A middleware plugin implements [Middleware] and calls [ServeMiddleware].
// The host starts every plugin as its own process with
// github.com/hashicorp/go-plugin and talks to it over gRPC; protobuf types
// never appear in this package's API. The conformance suite in
// sdk/backendtest checks any backend for the guarantees the host relies on.
//
// Backends know nothing of lock modes: every lock recipe is built by the host
// on the store. Keys are (resource, key) pairs; atomicity and ordering hold
// within one resource and never across resources.
//
// A session belongs to the host, not to the plugin process. A backend whose
// sessions can outlive a crash of that process implements [SessionAdopter]
// (and announces [CapAdopt]); one whose session lives in a resource of the
// process, such as a locked file, returns it as [Session.Anchor], a copy of
// which the host holds over the crash and hands to the restarted plugin.
package sdk
