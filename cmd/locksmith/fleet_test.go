package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/locksmithx/locksmith/internal/redistest"
)

// The fleet procedure of docs/operations.md, with real processes: hosts on
// the old config (file) contend with hosts on the migration config
// (backend: { from: file, to: redis }); then every host moves on, so hosts
// on the migration config contend with hosts on the new one (redis); then
// all are on the new one. At no point are two inside the lock at once.
func TestFleetSwitchInMigrationMode(t *testing.T) {
	srv := redistest.Start(t)
	base := newEnv(t)
	group := func(name, head string) *env {
		e := &env{t: t, dir: base.dir, config: filepath.Join(base.dir, name+".yaml")}
		e.writeMulti(srv.Addr, head)
		return e
	}
	old := group("old", "backend: file\n")
	mig := group("migrating", "backend: { from: file, to: redis }\n")
	next := group("new", "backend: redis\n")

	counter, inside, overlaps := filepath.Join(base.dir, "counter"), filepath.Join(base.dir, "inside"), filepath.Join(base.dir, "overlaps")
	if err := os.WriteFile(counter, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The critical section marks itself with a directory only one process
	// can create, and does a read-modify-write a second holder would spoil.
	cs := base.script("critical", `mkdir "$2" 2>/dev/null || echo "overlap at token $LOCKSMITH_FENCING_TOKEN" >> "$3"
n=$(cat "$1"); sleep 0.01; echo $((n+1)) > "$1"
rmdir "$2"
`)
	total := 0
	phase := func(name string, groups ...*env) {
		t.Helper()
		const procs, runs = 4, 5
		var wg sync.WaitGroup
		fails := make(chan string, procs*runs)
		for p := 0; p < procs; p++ {
			e := groups[p%len(groups)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < runs; i++ {
					if code, out := e.run("exec", "--named", "shared-job", "--", cs, counter, inside, overlaps); code != 0 {
						fails <- fmt.Sprintf("%s: %s: exit %d: %s", name, filepath.Base(e.config), code, out)
					}
				}
			}()
		}
		wg.Wait()
		close(fails)
		for f := range fails {
			t.Fatal(f)
		}
		total += procs * runs
		if raw, err := os.ReadFile(overlaps); err == nil {
			t.Fatalf("%s: two holders at once:\n%s", name, raw)
		}
		raw, _ := os.ReadFile(counter)
		if got := strings.TrimSpace(string(raw)); got != strconv.Itoa(total) {
			t.Fatalf("%s: counter %s, want %d: an update was lost", name, got, total)
		}
	}
	phase("old and migrating", old, mig)
	phase("migrating and new", mig, next)
	phase("new", next)
}
