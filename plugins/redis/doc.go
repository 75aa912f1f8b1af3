// Package redis is the Redis backend of Locksmith: the sdk.Backend store
// kept in Redis — a single node, a Sentinel-managed primary, or a Redis
// Cluster — through go-redis's UniversalClient.
//
// Layout. Every key of a resource R carries the hash tag {R} (with '{', '}'
// and '%' percent-encoded), so all of a resource's state lives in one
// Cluster slot and one Lua script can change it atomically:
//
//	<prefix>{R}:rev    revision counter (INCR); never deleted, so fencing
//	                   tokens never go backwards while it survives
//	<prefix>{R}:meta   hash key -> "createRev modRev session"
//	<prefix>{R}:val    hash key -> value
//	<prefix>{R}:log    capped list of the last `history` events, for Watch
//	<prefix>{R}:ch     pub/sub channel the scripts publish every event on
//	<prefix>s:{id}     session hash (ttl, meta) with a PEXPIRE TTL
//	<prefix>s:{id}:r   set of the resources the session put entries in
//	<prefix>sessions   registry of open sessions, for the sweep
//
// Every store operation is one EVALSHA (go-redis reloads a script after
// NOSCRIPT). A session is one key whose TTL KeepAlive extends: renewal costs
// one command per session, whatever the number of entries it holds.
//
// Dead sessions. On a single node or Sentinel the resource scripts check
// the session of every entry they read (its key and renewal deadline, once
// per session and script) and remove a dead session's entries in the same
// script, so no entry of an expired session is ever reported live. In
// Cluster a script cannot read a session key in another slot; there the
// store checks sessions outside the script (a session that expired never
// comes back, so that is safe) and passes the dead ones into the resource
// script. A sweep in every plugin process, every quarter of the shortest
// session TTL, finds sessions that ended without Revoke and removes their
// entries from every resource they touched; watchers also re-check their
// resource at that pace.
//
// Watch subscribes to the resource's channel, replays the event log from
// the requested revision and then delivers published events, re-reading
// the log whenever it sees a gap or the subscription reconnects, so no
// change is missed. A revision older than the log gives sdk.ErrCompacted.
//
// See README.md for what survives a restart or a failover of Redis.
package redis
