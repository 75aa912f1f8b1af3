// Package consul is the Consul backend of Locksmith: the sdk.Backend store
// kept in Consul's KV store, with Consul sessions as leases, through
// github.com/hashicorp/consul/api.
//
// Layout. Resource and entry names are percent-encoded into one path
// segment each, so no resource's keys are a prefix of another's:
//
//	<prefix>r/<R>/rev      the resource's revision counter (decimal); never
//	                       deleted, so fencing tokens never go backwards
//	                       while Consul keeps its state
//	<prefix>r/<R>/e/<K>    an entry, acquired ("lock" verb) by its session;
//	                       its value is a header (createRev, modRev,
//	                       session) and the entry's value
//	<prefix>l/<R>/<n>      ring of the last `history` events; event rev
//	                       lives in slot rev mod history
//	<prefix>s/<id>/<R>     the resources session id put entries in, so
//	                       Revoke and Repair find them
//
// Every change is one Consul transaction (/v1/txn) that compare-and-swaps
// the revision key on the ModifyIndex the writer read, writes the change
// and its event, and (for Put WithRange) reads the resource's entries
// back. So a change is decided on a snapshot that is still current when it
// applies, revisions are consecutive per resource, and a put-then-range is
// one round trip when the plugin's cached snapshot is current (two more
// when another process changed the resource since).
//
// Sessions are Consul sessions with Behavior=release and a configurable
// lock-delay (0 by default: fencing tokens make it unnecessary). Consul
// invalidates a session twice its TTL after the last renewal, so the
// store asks Consul for half the TTL it grants. When a session ends,
// Consul releases its entries (their Session field is cleared in the same
// raft entry that destroys the session); from then on no read reports
// them live, and the next writer, reader or watcher of the resource
// removes them, each removal an event with its own revision.
//
// Watch is a blocking query on the resource's keys from the last index it
// saw: it wakes on every change (a put, a delete, or Consul releasing a
// dead session's entries), reads the new events from the ring, and
// removes released entries itself. There is no polling loop.
//
// See README.md for what holds across an agent restart, a leader election
// and a partition.
package consul
