package host

import (
	"testing"
	"time"
)

// TestPluginCrashIsAnEvent: a plugin that dies and is restarted shows as
// a plugin_exited then a plugin_restarted event naming it, and in the
// metrics; session renewals are timed.
func TestPluginCrashIsAnEvent(t *testing.T) {
	h := newTestHost(t, t.TempDir())
	events, stop := h.Subscribe(64)
	defer stop()
	l := mustLock(t, h, "evented")
	killPlugin(t, h)
	want := []EventKind{EventPluginExited, EventPluginRestarted}
	timeout := time.After(20 * time.Second)
	for len(want) > 0 {
		select {
		case ev := <-events:
			if ev.Plugin == "" {
				continue
			}
			if ev.Kind != want[0] || ev.Plugin != "file" {
				t.Fatalf("event %v of plugin %q, want %v of file", ev.Kind, ev.Plugin, want[0])
			}
			if ev.Kind == EventPluginRestarted && ev.Wait <= 0 {
				t.Fatalf("restart event without downtime: %+v", ev)
			}
			want = want[1:]
		case <-timeout:
			t.Fatalf("no %v event within 20s", want[0])
		}
	}
	m := h.Metrics()
	if m.PluginExits != 1 || m.PluginRestarts != 1 {
		t.Fatalf("metrics: %d exits, %d restarts; want 1 and 1", m.PluginExits, m.PluginRestarts)
	}
	// The test config's TTL is 3s: a renewal comes within a second.
	deadline := time.Now().Add(15 * time.Second)
	for h.Metrics().Renewal.Count == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no session renewal timed within 15s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := l.Release(testCtx(t)); err != nil {
		t.Fatalf("release after the restart: %v", err)
	}
}
