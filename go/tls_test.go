package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeKeyPair writes a self-signed certificate and its key as PEM files.
func writeKeyPair(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(dir, name+".crt")
	keyFile = filepath.Join(dir, name+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certFile, keyFile
}

func TestLoadTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeKeyPair(t, dir, "a")
	otherCert, _ := writeKeyPair(t, dir, "b")

	if cfg, err := loadTLS("", ""); cfg != nil || err != nil {
		t.Errorf("no files: %v %v", cfg, err)
	}
	if cfg, err := loadTLS(cert, key); err != nil || len(cfg.Certificates) != 1 {
		t.Errorf("a good pair: %v", err)
	}

	both := filepath.Join(dir, "both.pem")
	c, _ := os.ReadFile(cert)
	k, _ := os.ReadFile(key)
	os.WriteFile(both, append(c, k...), 0o600)
	if _, err := loadTLS(both, ""); err != nil {
		t.Errorf("one file with both: %v", err)
	}

	if _, err := loadTLS(filepath.Join(dir, "missing.crt"), key); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}

	var se *statusError
	if _, err := loadTLS(otherCert, key); !errors.As(err, &se) || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("a mismatched pair: %v", err)
	}

	encrypted := filepath.Join(dir, "encrypted.key")
	os.WriteFile(encrypted, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("not a key")}), 0o600)
	if _, err := loadTLS(cert, encrypted); !errors.As(err, &se) || !strings.Contains(err.Error(), "password") {
		t.Errorf("an encrypted key: %v", err)
	}

	if _, err := loadTLS("", key); !errors.As(err, &se) {
		t.Errorf("a key without a certificate: %v", err)
	}
}

func TestProtocols(t *testing.T) {
	p := protocols(false)
	if !p.HTTP1() || !p.HTTP2() || p.UnencryptedHTTP2() {
		t.Errorf("protocols(false) = %v", p)
	}
	if !protocols(true).UnencryptedHTTP2() {
		t.Error("protocols(true) without h2c")
	}
}
