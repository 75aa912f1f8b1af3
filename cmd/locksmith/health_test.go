package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/host"
)

// TestPrintHealthListsEveryBackend: the text form names every backend the
// host runs, not just the default, with each one's role and leases.
func TestPrintHealthListsEveryBackend(t *testing.T) {
	file := host.PluginHealth{Name: "file", Role: host.RoleDefault, Version: "0.1.0", Protocol: 2, PID: 10, Alive: true, Healthy: true, RTT: time.Millisecond, Leases: 1}
	redis := host.PluginHealth{Name: "redis", Role: host.RoleNamed, Version: "0.1.0", Protocol: 2, PID: 11, Alive: true, Healthy: true, RTT: time.Millisecond, Leases: 2}
	old := host.PluginHealth{Name: "consul", Role: host.RoleDraining, Version: "0.1.0", Error: "plugin exited"}
	var out bytes.Buffer
	if err := printHealth(&out, host.Health{OK: true, Backend: file, Backends: []host.PluginHealth{file, redis, old}}, false); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"backend file 0.1.0: healthy (pid 10",
		"also backend redis 0.1.0: healthy (pid 11", "role named, 2 lease(s)",
		"also backend consul 0.1.0: down\n  plugin exited\n  role draining, 0 lease(s)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("health output lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "backend file ") != 1 {
		t.Errorf("the default backend is listed more than once:\n%s", got)
	}
}
