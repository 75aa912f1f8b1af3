package consul

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/locksmithx/locksmith/sdk"
)

func TestParseConfigDefaults(t *testing.T) {
	t.Setenv(EnvToken, "")
	t.Setenv(EnvConsulToken, "")
	c, err := ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Address != DefaultAddress || c.Scheme != "http" || c.Prefix != DefaultPrefix || c.History != DefaultHistory || c.LockDelay != 0 || c.Token != "" {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = ParseConfig(sdk.Config{"tls": true})
	if err != nil || c.Scheme != "https" {
		t.Fatalf("tls: true: scheme %q, %v; want https", c.Scheme, err)
	}
	c, err = ParseConfig(sdk.Config{"lock_delay": "1500ms", "datacenter": "dc2", "prefix": "a/b/"})
	if err != nil || time.Duration(c.LockDelay) != 1500*time.Millisecond || c.Datacenter != "dc2" || c.Prefix != "a/b/" {
		t.Fatalf("explicit settings: %+v, %v", c, err)
	}
}

func TestParseConfigToken(t *testing.T) {
	t.Setenv(EnvToken, "")
	t.Setenv(EnvConsulToken, "from-consul-env")
	c, err := ParseConfig(sdk.Config{"token": "from-config"})
	if err != nil || c.Token != "from-consul-env" {
		t.Fatalf("CONSUL_HTTP_TOKEN: token %q, %v", c.Token, err)
	}
	t.Setenv(EnvToken, "from-locksmith-env")
	c, err = ParseConfig(sdk.Config{"token": "from-config"})
	if err != nil || c.Token != "from-locksmith-env" {
		t.Fatalf("LOCKSMITH_CONSUL_TOKEN before CONSUL_HTTP_TOKEN: token %q, %v", c.Token, err)
	}
	t.Setenv(EnvToken, "")
	t.Setenv(EnvConsulToken, "")
	c, err = ParseConfig(sdk.Config{"token": "from-config"})
	if err != nil || c.Token != "from-config" {
		t.Fatalf("config token: %q, %v", c.Token, err)
	}
}

func TestParseConfigRejects(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  sdk.Config
		want string
	}{
		{sdk.Config{"address": "localhost"}, "address"},
		{sdk.Config{"address": ":8500"}, "host is empty"},
		{sdk.Config{"address": "127.0.0.1:0"}, "port"},
		{sdk.Config{"scheme": "ftp"}, "scheme"},
		{sdk.Config{"scheme": "http", "tls": true}, "use scheme https"},
		{sdk.Config{"prefix": "/abs/"}, "prefix"},
		{sdk.Config{"prefix": "no-slash"}, "prefix"},
		{sdk.Config{"prefix": "a//b/"}, "prefix"},
		{sdk.Config{"lock_delay": "-1s"}, "lock_delay"},
		{sdk.Config{"lock_delay": "2m"}, "lock_delay"},
		{sdk.Config{"lock_delay": "soon"}, "duration"},
		{sdk.Config{"history": -1}, "history"},
		{sdk.Config{"datacenter": "a/b"}, "datacenter"},
		{sdk.Config{"tls": sdk.Config{"cert_file": ca}}, "go together"},
		{sdk.Config{"tls": sdk.Config{"ca_file": filepath.Join(t.TempDir(), "missing.pem")}}, "ca_file"},
		{sdk.Config{"tls": sdk.Config{"bogus": 1}}, "bogus"},
		{sdk.Config{"adress": "127.0.0.1:8500"}, "adress"},
	} {
		_, err := ParseConfig(tc.cfg)
		if sdk.CodeOf(err) != sdk.CodeInvalidConfig || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConfig(%v): %v; want ErrInvalidConfig mentioning %q", tc.cfg, err, tc.want)
		}
	}
}

func TestKeyEncoding(t *testing.T) {
	for _, s := range []string{"a", "a/b", "a%2Fb", "x y?#", "ü", "{t}"} {
		enc := encode(s)
		if strings.ContainsAny(enc, "/ ?#{}") {
			t.Errorf("encode(%q) = %q holds a reserved character", s, enc)
		}
		if dec, err := decode(enc); err != nil || dec != s {
			t.Errorf("decode(encode(%q)) = %q, %v", s, dec, err)
		}
	}
	if !strings.HasPrefix(encode("a/bc"), encode("a/b")) {
		t.Error("encoding does not keep prefixes")
	}
}

func TestRecordAndEventCodecs(t *testing.T) {
	r := record{createRev: 3, modRev: 7, session: "s", value: []byte("v\nw")}
	got, err := decodeRecord(encodeRecord(r))
	if err != nil || got.createRev != 3 || got.modRev != 7 || got.session != "s" || string(got.value) != "v\nw" {
		t.Fatalf("record round trip: %+v, %v", got, err)
	}
	for _, bad := range []string{"", "1 2\n", "2 1 0\n", "1 1 5\nab", "x 1 0\n"} {
		if _, err := decodeRecord([]byte(bad)); err == nil {
			t.Errorf("decodeRecord(%q) accepted", bad)
		}
	}
	ev := sdk.Event{Type: sdk.EventDelete, Rev: 9, Entry: sdk.Entry{Key: "k/1", Session: "s"}}
	back, err := decodeEvent(encodeEvent(ev))
	if err != nil || back.Type != sdk.EventDelete || back.Rev != 9 || back.Entry.Key != "k/1" || back.Entry.Session != "s" {
		t.Fatalf("event round trip: %+v, %v", back, err)
	}
}
