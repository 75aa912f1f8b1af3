package host

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/locksmithx/locksmith/config"
	"github.com/locksmithx/locksmith/internal/consultest"
	"github.com/locksmithx/locksmith/internal/redistest"
)

const secretPurpose = "rotate-the-payroll-db-7f3a"

// withCrypto puts the crypto middleware in front of cfg with a key file
// under dir holding key.
func withCrypto(t *testing.T, cfg config.Config, dir, key string) config.Config {
	t.Helper()
	kf := filepath.Join(dir, "key")
	if err := os.WriteFile(kf, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Middleware = []string{"crypto"}
	cfg.Plugins["crypto"] = config.Plugin{Path: cryptoMiddleware, Config: map[string]any{"key_file": kf}}
	return cfg
}

const (
	key1 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	key2 = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"
)

// grepDir reports whether any file under dir holds s.
func grepDir(t *testing.T, dir, s string) bool {
	found := false
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err == nil && bytes.Contains(raw, []byte(s)) {
			found = true
		}
		return nil
	})
	return found
}

// TestCryptoFileState: with crypto on, no file of the file backend holds
// the metadata's plaintext, Status shows it decrypted, and a host with
// another key gets a clear error naming the resource. Without crypto the
// same grep finds the plaintext, so the check can fail.
func TestCryptoFileState(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	h := newHostFrom(t, withCrypto(t, testConfig(state), dir, key1))
	ctx := testCtx(t)
	l, err := h.Named(ctx, "payroll", WithMeta("purpose", secretPurpose))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	if grepDir(t, state, secretPurpose) {
		t.Fatal("the file backend's state holds the metadata in plaintext")
	}
	st, err := h.Status(ctx, "payroll")
	if err != nil || len(st.Holders) != 1 || st.Holders[0].Meta["purpose"] != secretPurpose {
		t.Fatalf("status with crypto: %+v, %v; want the purpose decrypted", st, err)
	}

	other := t.TempDir()
	wrong := newHostFrom(t, withCrypto(t, testConfig(state), other, key2))
	if _, err := wrong.Status(ctx, "payroll"); !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "payroll") || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("status with the wrong key: %v, want an error naming the resource and the unknown key", err)
	}
	// After a rotation the old key still decrypts.
	cfg := withCrypto(t, testConfig(state), t.TempDir(), key2)
	old := filepath.Join(other, "old")
	if err := os.WriteFile(old, []byte(key1), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Plugins["crypto"].Config["old_key_files"] = []any{old}
	rotated := newHostFrom(t, cfg)
	if st, err := rotated.Status(ctx, "payroll"); err != nil || st.Holders[0].Meta["purpose"] != secretPurpose {
		t.Fatalf("status after a rotation: %+v, %v", st, err)
	}

	plain := newTestHost(t, filepath.Join(dir, "plain"))
	pl, err := plain.Named(ctx, "payroll", WithMeta("purpose", secretPurpose))
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Release(ctx)
	if !grepDir(t, filepath.Join(dir, "plain"), secretPurpose) {
		t.Fatal("without crypto the plaintext is not found either: the grep proves nothing")
	}
}

// TestCryptoRedisKeys: with crypto on, no Redis key holds the plaintext.
func TestCryptoRedisKeys(t *testing.T) {
	redistest.Require(t)
	srv := redistest.Start(t)
	dir := t.TempDir()
	h := newHostFrom(t, withCrypto(t, redisConfig(srv.Addr, "crypto:"), dir, key1))
	ctx := testCtx(t)
	l, err := h.Named(ctx, "payroll", WithMeta("purpose", secretPurpose))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	keys, err := srv.Do("KEYS", "*")
	if err != nil {
		t.Fatal(err)
	}
	var dump strings.Builder
	for _, k := range strings.Fields(keys) {
		typ, _ := srv.Do("TYPE", k)
		var v string
		switch strings.TrimSpace(typ) {
		case "string":
			v, err = srv.Do("GET", k)
		case "hash":
			v, err = srv.Do("HGETALL", k)
		case "zset":
			v, err = srv.Do("ZRANGE", k, "0", "-1", "WITHSCORES")
		case "set":
			v, err = srv.Do("SMEMBERS", k)
		case "list":
			v, err = srv.Do("LRANGE", k, "0", "-1")
		case "stream":
			v, err = srv.Do("XRANGE", k, "-", "+")
		}
		if err != nil {
			t.Fatal(err)
		}
		dump.WriteString(k + " " + v + "\n")
	}
	if !strings.Contains(dump.String(), "locksmith.sealed") {
		t.Fatalf("the sealed metadata is not in Redis, so the check proves nothing:\n%s", dump.String())
	}
	if strings.Contains(dump.String(), secretPurpose) {
		t.Fatalf("a Redis key holds the plaintext:\n%s", dump.String())
	}
	if st, err := h.Status(ctx, "payroll"); err != nil || st.Holders[0].Meta["purpose"] != secretPurpose {
		t.Fatalf("status: %+v, %v", st, err)
	}
}

// TestCryptoConsulKV: with crypto on, no Consul KV value holds the
// plaintext.
func TestCryptoConsulKV(t *testing.T) {
	agent := consultest.StartDev(t)
	h := newHostFrom(t, withCrypto(t, consulConfig(agent.Addr, "crypto/"), t.TempDir(), key1))
	ctx := testCtx(t)
	l, err := h.Named(ctx, "payroll", WithMeta("purpose", secretPurpose))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	resp, err := http.Get("http://" + agent.Addr + "/v1/kv/crypto/?recurse=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var kvs []struct {
		Key   string
		Value []byte // base64 in the JSON
	}
	if err := json.NewDecoder(resp.Body).Decode(&kvs); err != nil {
		t.Fatal(err)
	}
	var dump strings.Builder
	for _, kv := range kvs {
		dump.WriteString(kv.Key + " " + string(kv.Value) + "\n")
	}
	if !strings.Contains(dump.String(), "locksmith.sealed") {
		t.Fatalf("the sealed metadata is not in Consul, so the check proves nothing:\n%s", dump.String())
	}
	if strings.Contains(dump.String(), secretPurpose) {
		t.Fatalf("a Consul KV value holds the plaintext:\n%s", dump.String())
	}
	if st, err := h.Status(ctx, "payroll"); err != nil || st.Holders[0].Meta["purpose"] != secretPurpose {
		t.Fatalf("status: %+v, %v", st, err)
	}
}
