package sdk

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"time"
)

// Mutual TLS between host and plugin, with fresh keys for every launch.
//
// go-plugin's AutoMTLS does the same with P-521 keys, whose first use in a
// process builds lookup tables: about 10 ms on each side, plus P-521
// signatures in the handshake, so a plugin took ~35 ms to be ready instead
// of ~6 ms. Here the host makes both key pairs (P-256, whose tables are
// compiled in) and hands the plugin its own pair and the host's certificate
// over an inherited pipe, never the environment or the file system. Each
// side accepts only the other's certificate. A plugin started by a stock
// go-plugin host, without the pipe, falls back to go-plugin's AutoMTLS.

// tlsFDEnv names the environment variable that tells the plugin which file
// descriptor carries its TLS material.
const tlsFDEnv = "LOCKSMITH_PLUGIN_TLS_FD"

// tlsBundle is what the host sends the plugin.
type tlsBundle struct {
	ServerCert []byte `json:"server_cert"` // PEM
	ServerKey  []byte `json:"server_key"`  // PEM
	ClientCert []byte `json:"client_cert"` // PEM
}

// newCert makes a self-signed P-256 certificate for "localhost", usable by
// either end of a connection, and returns it in PEM.
func newCert() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"Locksmith"}},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

// hostTLS prepares mutual TLS for one launch: it returns the host's TLS
// config and the bundle to hand the plugin.
func hostTLS() (*tls.Config, []byte, error) {
	clientCert, clientKey, err := newCert()
	if err != nil {
		return nil, nil, err
	}
	serverCert, serverKey, err := newCert()
	if err != nil {
		return nil, nil, err
	}
	pair, err := tls.X509KeyPair(clientCert, clientKey)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(serverCert)
	bundle, err := json.Marshal(tlsBundle{ServerCert: serverCert, ServerKey: serverKey, ClientCert: clientCert})
	if err != nil {
		return nil, nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		RootCAs:      pool,
		ServerName:   "localhost",
		MinVersion:   tls.VersionTLS13,
		// X25519 alone: the default hybrid post-quantum key share
		// (ML-KEM) costs each side ~0.5 ms of CPU per launch, for keys
		// that live as long as one plugin process on one machine.
		CurvePreferences: []tls.CurveID{tls.X25519},
	}, bundle, nil
}

// pluginTLS is the plugin's TLS provider: it reads the bundle the host
// passed, or returns nil (go-plugin's AutoMTLS then applies) when the host
// passed none.
func pluginTLS() (*tls.Config, error) {
	v := os.Getenv(tlsFDEnv)
	if v == "" {
		return nil, nil
	}
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q is not a file descriptor", tlsFDEnv, v)
	}
	f := os.NewFile(uintptr(fd), "locksmith-tls")
	if f == nil {
		return nil, fmt.Errorf("%s=%d: no such file descriptor", tlsFDEnv, fd)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read TLS material: %w", err)
	}
	var b tlsBundle
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("decode TLS material: %w", err)
	}
	pair, err := tls.X509KeyPair(b.ServerCert, b.ServerKey)
	if err != nil {
		return nil, fmt.Errorf("server key pair: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b.ClientCert) {
		return nil, errors.New("host certificate does not parse")
	}
	return &tls.Config{
		Certificates:     []tls.Certificate{pair},
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        pool,
		MinVersion:       tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{tls.X25519},
	}, nil
}
