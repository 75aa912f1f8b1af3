// Package backendtest is the conformance suite of the backend contract:
// every Locksmith backend, built-in or third-party, runs it from its tests
// to show it keeps the guarantees the host builds its lock recipes on.
//
//	func TestConformance(t *testing.T) {
//		backendtest.Run(t, func(t *testing.T) sdk.Backend {
//			s := mystore.New()
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Run runs every check as a subtest twice: under "direct" against the
// backend as the factory returns it, and under "grpc" through a real
// go-plugin gRPC connection (sdk.TestBackendConn), so that a backend is
// checked exactly as the host will see it. Every wait is bounded (see
// WithTimeout): a broken backend fails the suite, it never hangs it.
//
// The checks, by subtest name:
//
//   - InfoAndHealth: Info gives a name, a version and KindBackend; Health is nil.
//   - RevisionsIncrease: Range of a resource never written gives no entry,
//     at revision 0 or a floor below its first change; put, replace, update and delete each take a revision
//     above the last; Range's revision is not behind any change or entry.
//   - PutCreatesAndReplaces: a new entry has CreateRev == ModRev; a put over
//     it keeps CreateRev and takes a new ModRev.
//   - PutIfAbsent: a second IfAbsent put fails with sdk.ErrExists and changes nothing.
//   - UpdateCompareAndSwap: Update with the current ModRev succeeds and keeps
//     CreateRev; a stale revision gives sdk.ErrRevMismatch, a missing key
//     sdk.ErrNotFound.
//   - UpdateResourceGuard: an Update with ExpectResourceRev fails with
//     sdk.ErrRevMismatch once anything in the resource changed since.
//   - DeleteCompareAndSwap: likewise for Delete, where ExpectRev 0 matches any.
//   - RangeCreationOrder: Range lists entries by CreateRev, also after an
//     Update of an early entry.
//   - PutWithRange: a put WithRange returns the entries including its own.
//   - PutWithRangeConcurrentSnapshots: under many concurrent clients, each
//     put's entries are exactly the live entries at the put's own revision,
//     and no two changes share a revision.
//   - WatchReplaysHistory, WatchFromMidHistory, WatchFromCurrentRevision:
//     Watch delivers every change from its fromRev on, in order, with the
//     right type, key, session and revision, past changes and live ones.
//   - WatchEndsWithContext, WatchReturnsSendError: Watch returns its
//     context's error, or send's.
//   - WatchCompacted: a Watch from before the store's history fails with
//     sdk.ErrCompacted before sending anything, and Range-then-Watch
//     recovers. Stores that keep all history are checked to deliver it.
//   - UnknownSession: a session the store never issued gets
//     sdk.ErrSessionExpired; revoking it is not an error.
//   - RevokeRemovesEntries: Revoke removes the session's entries in every
//     resource, each seen by Watch as a delete; the session cannot put or be
//     kept alive again; revoking twice is fine.
//   - ConcurrentMutualExclusion: many clients run the host's lock recipe
//     (put WithRange, lowest CreateRev owns, Watch for the entries ahead)
//     around a non-atomic counter; no increment is lost and the lock passes
//     in CreateRev order.
//   - ResourcesAndCheck: Resources answers, lists a resource with a live
//     entry and honours its prefix as a string prefix; Check answers and
//     finds nothing wrong in healthy state. An error is a failure.
//   - UpdateCompareAndSwap also pins ExpectRev 0: no wildcard for Update
//     (sdk.ErrRevMismatch on an entry, sdk.ErrNotFound without one; Update
//     never creates), unlike Delete.
//   - WatchResumesAfterCut: a watch cut and resumed from the revision after
//     its last event gets every later change once, those made while no
//     watch ran included.
//   - CompareAndSwapStorm: rounds of many clients updating one entry, each
//     expecting the revision it read: exactly one wins a round, and the
//     wins form one chain of revisions.
//   - Linearizable: a concurrent history of puts, updates, deletes and
//     ranges on one resource, recorded from several clients, is checked
//     with github.com/anishathalye/porcupine against a sequential model of
//     the contract.
//   - RestartKeepsState (WithRestart, stores announcing sdk.CapPersistent):
//     entries, revisions and live sessions survive a restart of the
//     backend, and revisions go on increasing.
//   - SharedStoreInstances (WithSharedStore): backends from successive
//     factory calls see each other's writes, in Range and in Watch, and an
//     IfAbsent put on one excludes the other.
//   - SessionExpires: a session nobody keeps alive loses its entries within
//     its TTL plus the slack, not before its TTL (WithSessionTTL, WithSlack),
//     seen through Watch alone: nothing reads the store meanwhile, so a
//     store that expires sessions only when read fails.
//   - SessionExpiresMidOperation: a session whose entry keeps being updated
//     but which is not kept alive still expires: writes do not renew a
//     session; its entry's Updates then fail with sdk.ErrNotFound.
//   - SessionKeptAlive: a session kept alive every third of its TTL keeps its
//     entries past twice its TTL.
//   - BrokenKeepAliveStreamRevokes (grpc only): when the connection carrying
//     a session's keep-alive stream breaks, its entries go at once, long
//     before its TTL.
//
// On a watch that waits in vain, the failure Ranges the resource and says
// which guarantee the state it finds breaks (entries left in place, or
// removed without an event, or changed only when read).
//
// The session-timing checks run in parallel with each other, after
// the others; a fast backend finishes each mode in about 2.5 TTLs.
//
// The checks name their resources "backendtest/<test name>-<random>/<name>",
// so backends returned by successive factory calls may share one store.
package backendtest
