package server

import (
	"context"
	"syscall"
	"testing"
)

// TestPluginRestartReported: a backend plugin killed under the server
// shows in the event stream (exited, then restarted) and in /metrics, and
// the lease an HTTP client holds survives it.
func TestPluginRestartReported(t *testing.T) {
	e := newEnv(t, nil)
	events := e.subscribe("")
	l := e.acquire(`{"resource":"survivor"}`)
	pid := e.host.Health(context.Background()).Backend.PID
	if pid <= 0 {
		t.Fatalf("plugin pid %d", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	exited := events.next(t, func(ev Event) bool { return ev.Plugin != "" })
	restarted := events.next(t, func(ev Event) bool { return ev.Plugin != "" })
	if exited.Kind != "plugin_exited" || restarted.Kind != "plugin_restarted" || restarted.Plugin != "file" {
		t.Fatalf("plugin events %+v then %+v", exited, restarted)
	}
	fams := e.scrape()
	if v := value(fams, "locksmith_plugin_events_total", map[string]string{"event": "restarted", "backend": "file"}); v != 1 {
		t.Fatalf("locksmith_plugin_events_total{event=restarted} = %v, want 1", v)
	}
	if fams["locksmith_renewal_seconds"] == nil {
		t.Fatal("/metrics has no locksmith_renewal_seconds")
	}
	var got httpLease
	e.do("GET", "/api/v1/leases/"+l.ID, "").json(t, &got)
	if got.State != stateHeld {
		t.Fatalf("the lease did not survive the plugin's crash: %+v", got)
	}
	if r := e.do("DELETE", "/api/v1/leases/"+l.ID, ""); r.status != 200 {
		t.Fatalf("release after the crash: %d %s", r.status, r.body)
	}
}
