package server

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/locksmithx/locksmith/host"
)

func TestCheckHealthAndRepairOfCorruptState(t *testing.T) {
	e := newEnv(t, nil)
	path := e.dir + "/data"
	held := e.acquire(fmt.Sprintf(`{"resource":%q}`, path))
	var found struct{ Problems []host.Problem }
	if r := e.do("GET", "/api/v1/check", ""); r.status != http.StatusOK {
		t.Fatalf("check: %d %s", r.status, r.body)
	} else if r.json(t, &found); len(found.Problems) != 0 {
		t.Fatalf("problems in sound state: %+v", found.Problems)
	}

	// Damage the state file's superblock and slots, as a stray writer would.
	f, err := os.OpenFile(path+".locksmith", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(strings.Repeat("\xa5garbage", 64)), 8); err != nil {
		t.Fatal(err)
	}
	f.Close()

	r := e.do("GET", "/api/v1/check?resource="+url.QueryEscape(path), "")
	r.json(t, &found)
	if r.status != http.StatusOK || len(found.Problems) == 0 || found.Problems[0].Path != path+".locksmith" {
		t.Fatalf("check of corrupt state: %d %s", r.status, r.body)
	}
	r = e.do("GET", "/api/v1/health", "")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), path+".locksmith") {
		t.Fatalf("health with corrupt state: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v1/repair", `{}`); r.status != http.StatusBadRequest || r.code(t) != codeInvalidArgument {
		t.Fatalf("repair without a resource: %d %s", r.status, r.body)
	}
	r = e.do("POST", "/api/v1/repair", fmt.Sprintf(`{"resource":%q}`, path))
	var fixed struct{ Repaired []host.Problem }
	r.json(t, &fixed)
	if r.status != http.StatusOK || len(fixed.Repaired) == 0 || !fixed.Repaired[0].Repaired {
		t.Fatalf("repair: %d %s", r.status, r.body)
	}
	if r := e.do("GET", "/api/v1/health", ""); r.status != http.StatusOK {
		t.Fatalf("health after repair: %d %s", r.status, r.body)
	}
	// The repaired lock works: once its holder lets go (whether repair
	// kept its entry or dropped it), another client gets it.
	e.do("DELETE", "/api/v1/leases/"+held.ID, "")
	e.acquire(fmt.Sprintf(`{"resource":%q,"wait":"5s"}`, path))
}
