package sdk

import (
	"crypto/tls"
	"fmt"
	"os"
	"syscall"
	"testing"
)

// servePluginTLS runs a TLS echo of one byte with the plugin's side of the
// bundle and returns its address.
func servePluginTLS(t *testing.T, bundle []byte) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(bundle); err != nil {
		t.Fatal(err)
	}
	w.Close()
	// pluginTLS takes the descriptor it is given and closes it: give it a
	// copy, so that r's own close (and finalizer) never closes a number
	// reused by then by another file of this process.
	fd, err := syscall.Dup(int(r.Fd()))
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(tlsFDEnv, fmt.Sprint(fd))
	cfg, err := pluginTLS()
	if err != nil || cfg == nil {
		t.Fatalf("pluginTLS: %v, %v", cfg, err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b := make([]byte, 1)
				if _, err := c.Read(b); err == nil {
					_, _ = c.Write(b)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(addr string, cfg *tls.Config) error {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte{7}); err != nil {
		return err
	}
	b := make([]byte, 1)
	_, err = c.Read(b)
	return err
}

func TestMutualTLSAcceptsOnlyTheHost(t *testing.T) {
	hostCfg, bundle, err := hostTLS()
	if err != nil {
		t.Fatal(err)
	}
	addr := servePluginTLS(t, bundle)
	if err := roundTrip(addr, hostCfg); err != nil {
		t.Fatalf("the host's own connection failed: %v", err)
	}
	noCert := hostCfg.Clone()
	noCert.Certificates = nil
	if err := roundTrip(addr, noCert); err == nil {
		t.Fatal("a client without a certificate was accepted")
	}
	otherCfg, _, err := hostTLS()
	if err != nil {
		t.Fatal(err)
	}
	stranger := otherCfg.Clone()
	stranger.RootCAs = hostCfg.RootCAs // trusts the server, but holds another key
	if err := roundTrip(addr, stranger); err == nil {
		t.Fatal("a client with another host's certificate was accepted")
	}
	if err := roundTrip(addr, otherCfg); err == nil {
		t.Fatal("the host accepted a server certificate it did not issue")
	}
}

func TestPluginTLSWithoutBundleFallsBack(t *testing.T) {
	t.Setenv(tlsFDEnv, "")
	cfg, err := pluginTLS()
	if cfg != nil || err != nil {
		t.Fatalf("without a bundle: %v, %v; want nil, nil (go-plugin AutoMTLS)", cfg, err)
	}
	t.Setenv(tlsFDEnv, "x")
	if _, err := pluginTLS(); err == nil {
		t.Fatal("a bad descriptor was accepted")
	}
}
