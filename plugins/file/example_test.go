package file_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/locksmithx/locksmith/plugins/file"
	"github.com/locksmithx/locksmith/sdk"
)

// A process takes an exclusive lock on a file the way the host does: put an
// entry with the range in one call; it holds the lock when no entry was
// created before its own.
func Example() {
	dir, _ := os.MkdirTemp("", "locksmith-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store := file.New()
	defer store.Close()
	if err := store.Configure(ctx, sdk.Config{
		"named_dir":   filepath.Join(dir, "named"),
		"session_dir": filepath.Join(dir, "sessions"),
	}); err != nil {
		fmt.Println(err)
		return
	}
	sess, _ := store.OpenSession(ctx, 15*time.Second, map[string]string{"owner": "example"})

	counter := filepath.Join(dir, "counter")
	p, _ := store.Put(ctx, sdk.PutRequest{Resource: counter, Key: sess.ID + "/1", Value: []byte("X"), Session: sess.ID, WithRange: true})
	fmt.Println("fencing token:", p.CreateRev, "holders:", len(p.Entries))
	_, err := os.Stat(counter + ".locksmith")
	fmt.Println("state beside the file:", err == nil)

	d, _ := store.Delete(ctx, sdk.DeleteRequest{Resource: counter, Key: sess.ID + "/1", ExpectRev: p.ModRev})
	fmt.Println("released at revision", d.Rev)
	// Output:
	// fencing token: 1 holders: 1
	// state beside the file: true
	// released at revision 2
}
