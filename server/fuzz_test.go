package server

import (
	"testing"
	"time"

	"github.com/locksmithx/locksmith/host"
)

// parses reports whether m is a mode a client can name.
func parses(m host.Mode) bool {
	back, err := host.ParseMode(m.String())
	return err == nil && back == m
}

// FuzzParseAcquire feeds arbitrary bodies to the acquire decoder: it never
// panics, and what it accepts is within the server's bounds.
func FuzzParseAcquire(f *testing.F) {
	for _, seed := range []string{
		`{"resource":"jobs/a"}`,
		`{"resource":"/tmp/x","kind":"file","mode":"shared","wait":"1s","ttl":"30s","metadata":{"k":"v"}}`,
		`{"resource":"sem","limit":3}`,
		`{"resource":"r","mode":"update","wait":"0s"}`,
		`{"resource":""}`, `{}`, `[]`, `null`, `{"resource":"r"}{}`, `{"resource":"r","wait":"-5s"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		sp, err := parseAcquire(body, time.Minute, 30*time.Second)
		if err != nil {
			if _, ok := err.(*badRequest); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if sp.resource == "" || !parses(sp.mode) || sp.wait < 0 || sp.wait > time.Minute ||
			sp.ttl < time.Second || sp.ttl > 24*time.Hour || sp.limit < 0 || len(sp.meta) > maxMetaKeys {
			t.Fatalf("accepted out of bounds: %+v", sp)
		}
	})
}

// FuzzParseConvert does the same for convert bodies.
func FuzzParseConvert(f *testing.F) {
	for _, seed := range []string{`{"mode":"exclusive"}`, `{"mode":"shared","wait":"2s"}`, `{"mode":""}`, `{"wait":"1s"}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, wait, err := parseConvert(body, time.Minute)
		if err != nil {
			if _, ok := err.(*badRequest); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if !parses(m) || wait < 0 || wait > time.Minute {
			t.Fatalf("accepted out of bounds: %v %v", m, wait)
		}
	})
}
