package redis

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/internal/redistest"
	"github.com/locksmithx/locksmith/sdk"
)

// TestKilledServer: with redis-server killed by SIGKILL while a session
// holds entries, every call fails with sdk.ErrUnavailable and a message
// naming the server.
func TestKilledServer(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, []string{srv.Addr}, sdk.Config{"dial_timeout": "200ms"})
	ctx := ctxT(t)
	a := mustSession(t, s, 5*time.Second)
	if _, err := s.Put(ctx, sdk.PutRequest{Resource: "k", Key: "a", Session: a}); err != nil {
		t.Fatal(err)
	}
	srv.Kill()

	_, err := s.KeepAlive(ctx, a)
	wantUnavailable(t, "keep alive", err, srv.Addr)
	_, err = s.Put(ctx, sdk.PutRequest{Resource: "k", Key: "b", Session: a})
	wantUnavailable(t, "put", err, srv.Addr)
	_, err = s.Range(ctx, "k")
	wantUnavailable(t, "range", err, srv.Addr)
	err = s.Watch(ctx, "k", 1, func(sdk.Event) error { return nil })
	wantUnavailable(t, "watch", err, srv.Addr)
	wantUnavailable(t, "health", s.Health(ctx), srv.Addr)
	// Through gRPC the code survives.
	_, err = sdk.TestBackendConn(t, s).Range(ctx, "k")
	wantUnavailable(t, "range over gRPC", err, srv.Addr)
}

func wantUnavailable(t *testing.T, what string, err error, addr string) {
	t.Helper()
	if !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("%s with redis down: %v (code %s), want ErrUnavailable", what, err, sdk.CodeOf(err))
	}
	if !strings.Contains(err.Error(), addr) {
		t.Fatalf("%s with redis down: %q does not name %s", what, err, addr)
	}
	t.Logf("%s: %v", what, err)
}

// TestConnectionRefused: Configure against a port nobody listens on fails
// with sdk.ErrUnavailable naming the address.
func TestConnectionRefused(t *testing.T) {
	port, err := redistest.FreePort(false)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	start := time.Now()
	err = New().Configure(ctxT(t), sdk.Config{"addrs": []any{addr}})
	if !errors.Is(err, sdk.ErrUnavailable) || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("configure on a closed port: %v; want ErrUnavailable naming %s and the refusal", err, addr)
	}
	t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), err)
}

// TestRestartWithAOF: redis-server killed and restarted with appendfsync
// always keeps every revision (the next one is higher than any handed out
// before), keeps live sessions, and never shows an entry of a session that
// expired while it was down.
func TestRestartWithAOF(t *testing.T) {
	srv := redistest.Start(t, redistest.WithAOF("always"))
	s := open(t, []string{srv.Addr}, nil)
	ctx := ctxT(t)
	info, _ := s.Info(ctx)
	if !info.Has(sdk.CapPersistent) || len(info.Warnings) != 0 {
		t.Fatalf("AOF always: info %+v, want persistent and no warnings", info)
	}
	short := mustSession(t, s, 500*time.Millisecond)
	long := mustSession(t, s, 30*time.Second)
	var last int64
	for i := 0; i < 20; i++ {
		p, err := s.Put(ctx, sdk.PutRequest{Resource: "fenced", Key: "k" + strconv.Itoa(i%3), Session: long})
		if err != nil {
			t.Fatal(err)
		}
		last = p.ModRev
	}
	p, err := s.Put(ctx, sdk.PutRequest{Resource: "fenced", Key: "dies", Session: short})
	if err != nil {
		t.Fatal(err)
	}
	last = p.ModRev

	srv.Kill()
	time.Sleep(time.Second) // the short session's TTL passes while Redis is down
	srv.Restart()

	r, err := s.Range(ctx, "fenced")
	if err != nil {
		t.Fatalf("range after restart: %v", err)
	}
	for _, e := range r.Entries {
		if e.Session == short {
			t.Fatalf("entry %q of the session that expired during the outage is live after the restart", e.Key)
		}
	}
	if len(r.Entries) != 3 {
		t.Fatalf("after restart %d entries, want the 3 of the live session", len(r.Entries))
	}
	if _, err := s.KeepAlive(ctx, long); err != nil {
		t.Fatalf("keep alive of a live session after restart: %v", err)
	}
	if _, err := s.KeepAlive(ctx, short); !errors.Is(err, sdk.ErrSessionExpired) {
		t.Fatalf("keep alive of the expired session: %v, want ErrSessionExpired", err)
	}
	p, err = s.Put(ctx, sdk.PutRequest{Resource: "fenced", Key: "new", Session: long})
	if err != nil {
		t.Fatal(err)
	}
	if p.CreateRev <= last {
		t.Fatalf("revision after restart %d, want above %d: a fencing token was reused", p.CreateRev, last)
	}
	t.Logf("last revision before the kill %d, first after the restart %d (the removal of the expired entry took the ones between)", last, p.CreateRev)
}

// TestRestartWithoutPersistence: without AOF, Info says fencing tokens can
// go backwards, and after a restart they do.
func TestRestartWithoutPersistence(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, []string{srv.Addr}, nil)
	ctx := ctxT(t)
	info, _ := s.Info(ctx)
	if info.Has(sdk.CapPersistent) || len(info.Warnings) == 0 || !strings.Contains(info.Warnings[0], "appendonly") {
		t.Fatalf("no AOF: info %+v, want no persistence and a warning about appendonly", info)
	}
	t.Logf("warning: %s", info.Warnings[0])
	a := mustSession(t, s, 30*time.Second)
	for i := 0; i < 5; i++ {
		if _, err := s.Put(ctx, sdk.PutRequest{Resource: "r", Key: "k", Session: a}); err != nil {
			t.Fatal(err)
		}
	}
	srv.Kill()
	srv.Restart()
	if _, err := s.KeepAlive(ctx, a); !errors.Is(err, sdk.ErrSessionExpired) {
		t.Fatalf("keep alive after losing everything: %v, want ErrSessionExpired", err)
	}
	b := mustSession(t, s, 30*time.Second)
	p, err := s.Put(ctx, sdk.PutRequest{Resource: "r", Key: "k", Session: b})
	if err != nil || p.CreateRev != 1 {
		t.Fatalf("put after restart without AOF: %+v %v; expected the counter to start again at 1, as the warning says", p, err)
	}
}

// TestClientPauseExpires: a CLIENT PAUSE longer than the session TTL
// expires the session; the KeepAlive that waited through the pause
// reports ErrSessionExpired, it does not silently renew.
func TestClientPauseExpires(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, []string{srv.Addr}, sdk.Config{"read_timeout": "5s"})
	ctx := ctxT(t)
	a := mustSession(t, s, 500*time.Millisecond)
	if _, err := s.Put(ctx, sdk.PutRequest{Resource: "p", Key: "k", Session: a}); err != nil {
		t.Fatal(err)
	}
	if out, err := srv.Do("CLIENT", "PAUSE", "1500", "ALL"); err != nil {
		t.Fatalf("CLIENT PAUSE: %s %v", out, err)
	}
	start := time.Now()
	_, kaErr := s.KeepAlive(ctx, a)
	if !errors.Is(kaErr, sdk.ErrSessionExpired) {
		t.Fatalf("keep alive through a 1.5s pause of a 500ms session: %v after %v, want ErrSessionExpired", kaErr, time.Since(start))
	}
	r, err := s.Range(ctx, "p")
	if err != nil || len(r.Entries) != 0 {
		t.Fatalf("range after the pause: %+v %v, want no entries", r, err)
	}
	t.Logf("keep alive returned after %v: %v", time.Since(start).Round(time.Millisecond), kaErr)
}

// TestSweepClearsAbandonedSession: a session that simply stops being kept
// alive has its entries removed from every resource it touched within a
// fraction of its TTL after it expires, with no other call on them.
func TestSweepClearsAbandonedSession(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, []string{srv.Addr}, nil)
	other := open(t, []string{srv.Addr}, nil) // another process, say
	ctx := ctxT(t)
	const ttl = 400 * time.Millisecond
	a := mustSession(t, s, ttl)
	for i := 0; i < 5; i++ {
		if _, err := s.Put(ctx, sdk.PutRequest{Resource: "sw" + strconv.Itoa(i), Key: "k", Session: a}); err != nil {
			t.Fatal(err)
		}
	}
	_ = other
	deadline := time.Now().Add(ttl + ttl/2 + 200*time.Millisecond)
	for {
		out, err := srv.Do("EVAL", "local n = 0 for i = 0, 4 do n = n + redis.call('HLEN', ARGV[1] .. '{sw' .. i .. '}:meta') end return n", "0", s.c.cfg.Prefix)
		if err != nil {
			t.Fatal(err)
		}
		if out == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s entries of the abandoned session still stored %v after it was opened (TTL %v)", out, time.Since(deadline.Add(-ttl-ttl/2-200*time.Millisecond)), ttl)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, _ := srv.Do("SCARD", s.c.keys.registry()); n != "0" {
		t.Fatalf("registry still lists %s sessions after the sweep", n)
	}
}

// TestCheckRepair: Check finds a lagging revision counter and malformed
// entries without changing them; Repair fixes them.
func TestCheckRepair(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, []string{srv.Addr}, nil)
	ctx := ctxT(t)
	a := mustSession(t, s, 30*time.Second)
	for i := 0; i < 3; i++ {
		if _, err := s.Put(ctx, sdk.PutRequest{Resource: "c", Key: "k" + strconv.Itoa(i), Session: a}); err != nil {
			t.Fatal(err)
		}
	}
	keys := s.c.keys.resource("c")
	for _, cmd := range [][]string{{"SET", keys.rev, "1"}, {"HSET", keys.meta, "bad", "garbage"}, {"HSET", keys.val, "orphan", "x"}} {
		if out, err := srv.Do(cmd...); err != nil {
			t.Fatalf("%v: %s %v", cmd, out, err)
		}
	}
	ps, err := s.Check(ctx, "")
	if err != nil || len(ps) != 3 {
		t.Fatalf("check: %+v %v, want 3 problems", ps, err)
	}
	if again, _ := s.Check(ctx, "c"); len(again) != 3 {
		t.Fatalf("check changed the state: %+v", again)
	}
	if ps, err = s.Repair(ctx, "c"); err != nil || len(ps) != 3 || !ps[0].Repaired {
		t.Fatalf("repair: %+v %v", ps, err)
	}
	if ps, err = s.Check(ctx, "c"); err != nil || len(ps) != 0 {
		t.Fatalf("check after repair: %+v %v", ps, err)
	}
	p, err := s.Put(ctx, sdk.PutRequest{Resource: "c", Key: "k9", Session: a})
	if err != nil || p.CreateRev != 4 {
		t.Fatalf("put after repair: %+v %v, want revision 4", p, err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  sdk.Config
		want string
	}{
		{sdk.Config{"addrs": []any{"nohost"}}, `addrs[0] "nohost"`},
		{sdk.Config{"addrs": []any{"127.0.0.1:0"}}, "port must be"},
		{sdk.Config{"adrs": []any{"x"}}, `adrs: unknown key`},
		{sdk.Config{"prefix": "a{b"}, "prefix"},
		{sdk.Config{"dial_timeout": 5}, "duration"},
		{sdk.Config{"tls": sdk.Config{"ca": "x"}}, "tls"},
		{sdk.Config{"tls": sdk.Config{"ca_file": "/nonexistent"}}, "ca_file"},
		{sdk.Config{"history": -1}, "history"},
		{sdk.Config{"sentinel_password": "x"}, "master_name"},
		{sdk.Config{"addrs": []any{"127.0.0.1:1", "127.0.0.1:2"}, "db": 1}, "db 1"},
	} {
		err := New().Configure(context.Background(), tc.cfg)
		if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %v: %v; want ErrInvalidConfig mentioning %s", tc.cfg, err, tc.want)
		}
	}
	t.Setenv(EnvPassword, "from-env")
	c, err := ParseConfig(sdk.Config{"password": "from-file", "tls": true})
	if err != nil || c.Password != "from-env" || c.Addrs[0] != DefaultAddr || !c.TLS.Enabled {
		t.Fatalf("env override / defaults: %+v %v", c, err)
	}
}
