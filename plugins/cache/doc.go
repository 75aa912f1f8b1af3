// Package cache is Locksmith's read cache middleware: it answers status
// reads (and so tree and list) from answers it saw within a short TTL. The
// host follows each resource read through the chain with the backend's
// watch and tells the cache of every change (OnChange), which drops the
// resource at once, so a read never shows a holder that released more
// than one watch delivery ago; this host's own acquires, conversions,
// releases and lost leases drop it too. It never answers, delays or
// short-circuits a grant: it is called at status points and
// notifications only.
package cache
