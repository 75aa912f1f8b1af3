package crypto

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/locksmithx/locksmith/sdk"
)

const testKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

func ring(t *testing.T, cfg sdk.Config) keyring {
	t.Helper()
	kr, err := loadKeys(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestSealOpen(t *testing.T) {
	t.Setenv("TEST_CRYPTO_KEY", testKey)
	kr := ring(t, sdk.Config{"key_env": "TEST_CRYPTO_KEY"})
	meta := map[string]string{"purpose": "nightly backup", "owner": "alice"}
	sealed, err := kr.seal("jobs/x", meta)
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != 1 || strings.Contains(sealed[MetaKey], "nightly") {
		t.Fatalf("sealed: %v", sealed)
	}
	got, err := kr.open("jobs/x", sealed)
	if err != nil || got["purpose"] != "nightly backup" || got["owner"] != "alice" {
		t.Fatalf("open: %v, %v", got, err)
	}
	if _, err := kr.open("jobs/y", sealed); !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), "jobs/y") {
		t.Fatalf("open on another resource: %v, want ErrOpen naming it", err)
	}
	v := sealed[MetaKey]
	tampered := map[string]string{MetaKey: v[:len(v)-4] + "AAAA"}
	if _, err := kr.open("jobs/x", tampered); !errors.Is(err, ErrOpen) {
		t.Fatalf("open tampered: %v", err)
	}
	other := strings.Repeat("ab", 32)
	t.Setenv("TEST_CRYPTO_KEY", other)
	if _, err := ring(t, sdk.Config{"key_env": "TEST_CRYPTO_KEY"}).open("jobs/x", sealed); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("open with another key: %v, want ErrUnknownKey", err)
	}
	t.Setenv("OLD_KEY", testKey)
	rotated := ring(t, sdk.Config{"key_env": "TEST_CRYPTO_KEY", "old_key_envs": []any{"OLD_KEY"}})
	if got, err := rotated.open("jobs/x", sealed); err != nil || got["owner"] != "alice" {
		t.Fatalf("open with the old key after a rotation: %v, %v", got, err)
	}
	if resealed, _ := rotated.seal("jobs/x", meta); strings.Split(resealed[MetaKey], ":")[1] == strings.Split(v, ":")[1] {
		t.Fatal("the old key still encrypts after a rotation")
	}
	plain := map[string]string{"k": "v"}
	if got, err := kr.open("jobs/x", plain); err != nil || got["k"] != "v" {
		t.Fatalf("metadata written before crypto: %v, %v", got, err)
	}
}

func TestStatusAnswerOpened(t *testing.T) {
	t.Setenv("TEST_CRYPTO_KEY", testKey)
	m := New()
	if err := m.Configure(context.Background(), sdk.Config{"key_env": "TEST_CRYPTO_KEY"}); err != nil {
		t.Fatal(err)
	}
	v, err := m.Intercept(context.Background(), sdk.Interception{Phase: sdk.Before, Op: sdk.OpAcquire, Resource: "r", Metadata: map[string]string{"a": "secret"}})
	if err != nil || !v.RewriteMetadata {
		t.Fatal(v, err)
	}
	answer := []byte(`{"resource":"r","revision":3,"holders":[{"key":"k","meta":{"` + MetaKey + `":"` + v.Metadata[MetaKey] + `"}}],"waiters":[]}`)
	out, err := m.Intercept(context.Background(), sdk.Interception{Phase: sdk.After, Op: sdk.OpStatus, Resource: "r", Response: answer})
	if err != nil || out.Action != sdk.Respond || !strings.Contains(string(out.Response), `"a":"secret"`) || !strings.Contains(string(out.Response), `"revision":3`) {
		t.Fatalf("opened answer: %s, %v", out.Response, err)
	}
}

func TestKeyConfigErrors(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	_ = os.WriteFile(short, []byte("abcd\n"), 0o600)
	for _, tc := range []struct {
		cfg  sdk.Config
		want string
	}{
		{sdk.Config{}, "set exactly one"},
		{sdk.Config{"key_fiel": "x"}, "key_fiel"},
		{sdk.Config{"key_file": short}, "key_file: not a 256-bit key"},
		{sdk.Config{"key_env": "NO_SUCH_LOCKSMITH_VAR"}, "key_env: environment variable"},
		{sdk.Config{"key_file": filepath.Join(dir, "none")}, "key_file: read key"},
	} {
		_, err := loadKeys(tc.cfg)
		if !errors.Is(err, sdk.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.cfg, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "abcd") {
			t.Errorf("error shows key material: %v", err)
		}
	}
}
