package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
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
	load := func(o tlsOptions) (*tls.Config, error) {
		cfg, _, err := loadTLS(o)
		return cfg, err
	}

	if cfg, err := load(tlsOptions{}); cfg != nil || err != nil {
		t.Errorf("no files: %v %v", cfg, err)
	}
	cfg, err := load(tlsOptions{certFile: cert, keyFile: key})
	if err != nil || cfg.GetCertificate == nil || cfg.MinVersion != tls.VersionTLS12 || cfg.ClientAuth != tls.NoClientCert {
		t.Errorf("a good pair: %v %+v", err, cfg)
	}

	both := filepath.Join(dir, "both.pem")
	c, _ := os.ReadFile(cert)
	k, _ := os.ReadFile(key)
	os.WriteFile(both, append(c, k...), 0o600)
	if _, err := load(tlsOptions{certFile: both}); err != nil {
		t.Errorf("one file with both: %v", err)
	}

	if _, err := load(tlsOptions{certFile: filepath.Join(dir, "missing.crt"), keyFile: key}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}

	var se *statusError
	if _, err := load(tlsOptions{certFile: otherCert, keyFile: key}); !errors.As(err, &se) || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("a mismatched pair: %v", err)
	}

	encrypted := filepath.Join(dir, "encrypted.key")
	os.WriteFile(encrypted, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("not a key")}), 0o600)
	if _, err := load(tlsOptions{certFile: cert, keyFile: encrypted}); !errors.As(err, &se) || !strings.Contains(err.Error(), "openssl pkey") {
		t.Errorf("a PKCS#8 encrypted key: %v", err)
	}

	if _, err := load(tlsOptions{keyFile: key}); !errors.As(err, &se) {
		t.Errorf("a key without a certificate: %v", err)
	}
	if _, err := load(tlsOptions{caFile: cert, clientAuth: 2}); !errors.As(err, &se) {
		t.Errorf("client certificates without TLS: %v", err)
	}
}

func TestLegacyEncryptedKey(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeKeyPair(t, dir, "a")
	block, _ := pem.Decode(must(os.ReadFile(key)))
	enc, err := x509.EncryptPEMBlock(rand.Reader, "PRIVATE KEY", block.Bytes, []byte("s3cret"), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	locked := filepath.Join(dir, "locked.key")
	os.WriteFile(locked, pem.EncodeToMemory(enc), 0o600)

	if _, _, err := loadTLS(tlsOptions{certFile: cert, keyFile: locked, keyPassword: "s3cret"}); err != nil {
		t.Errorf("the right password: %v", err)
	}
	for password, want := range map[string]string{"": "password-protected", "wrong": "wrong password"} {
		if _, _, err := loadTLS(tlsOptions{certFile: cert, keyFile: locked, keyPassword: password}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("password %q: %v", password, err)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestVersionsAndCiphers(t *testing.T) {
	for in, want := range map[string]uint16{"": tls.VersionTLS12, "1.2": tls.VersionTLS12, "TLSv1.3": tls.VersionTLS13, "TLSv1_3": tls.VersionTLS13} {
		if v, err := tlsVersion(in); v != want || err != nil {
			t.Errorf("tlsVersion(%q) = %x, %v", in, v, err)
		}
	}
	if _, err := tlsVersion("1.1"); err == nil {
		t.Error("TLS 1.1 accepted")
	}
	ids, err := cipherSuites(" TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")
	if _, err := cipherSuites("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"); err == nil || !strings.Contains(err.Error(), "HTTP/2") {
		t.Errorf("without HTTP/2's suite: %v", err)
	}
	if err != nil || len(ids) != 2 || ids[0] != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 {
		t.Errorf("two suites: %v %v", ids, err)
	}
	if _, err := cipherSuites("ECDHE-RSA-AES128-GCM-SHA256"); err == nil || !strings.Contains(err.Error(), `"ECDHE-RSA-AES128-GCM-SHA256"`) {
		t.Errorf("an OpenSSL name: %v", err)
	}
	if _, err := cipherSuites("TLS_AES_128_GCM_SHA256"); err == nil || !strings.Contains(err.Error(), "TLS 1.3") {
		t.Errorf("a TLS 1.3 suite: %v", err)
	}
	if ids, err := cipherSuites(""); ids != nil || err != nil {
		t.Errorf("none: %v %v", ids, err)
	}
}

func TestCertSourceReloads(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeKeyPair(t, dir, "a")
	cs, err := newCertSource(cert, key, "")
	if err != nil {
		t.Fatal(err)
	}
	first := cs.cur.Load()

	// A broken file: the certificate stays, and the same broken files are
	// not tried again.
	os.WriteFile(cert, []byte("half written"), 0o600)
	cs.next.Store(0)
	if got, _ := cs.get(nil); got != first {
		t.Error("a broken file replaced the certificate")
	}
	if cs.stamps() != cs.seen {
		t.Error("the broken files were not remembered")
	}

	// A good new pair (written elsewhere, renamed in): served at once.
	newCert, newKey := writeKeyPair(t, t.TempDir(), "b")
	os.Rename(newKey, key)
	os.Rename(newCert, cert)
	cs.next.Store(0)
	if got, _ := cs.get(nil); got == first || got.Leaf == nil && len(got.Certificate) == 0 {
		t.Error("a renewed pair was not loaded")
	}

	// Not before the next check is due.
	second := cs.cur.Load()
	a2, k2 := writeKeyPair(t, t.TempDir(), "c")
	os.Rename(k2, key)
	os.Rename(a2, cert)
	if got, _ := cs.get(nil); got != second {
		t.Error("files looked at before the check was due")
	}
	if err := cs.reload(); err != nil || cs.cur.Load() == second {
		t.Errorf("reload: %v", err)
	}
}

func TestAppendTLSState(t *testing.T) {
	leaf := &x509.Certificate{Raw: []byte("leaf")}
	ca := &x509.Certificate{Raw: []byte("ca")}
	b := appendTLSState(nil, &tls.ConnectionState{
		Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256,
		ServerName: "example.com", NegotiatedProtocol: "h2",
		PeerCertificates: []*x509.Certificate{leaf},
		VerifiedChains:   [][]*x509.Certificate{{leaf, ca}},
	})
	var items []string
	unpack := b
	for len(unpack) > 0 {
		n := binary.NativeEndian.Uint32(unpack)
		items = append(items, string(unpack[4:4+n]))
		unpack = unpack[4+n:]
	}
	want := []string{"\x04\x03\x01\x13", "TLSv1.3", "TLS_AES_128_GCM_SHA256", "example.com", "h2", "leaf", "ca"}
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 { // big-endian
		want[0] = "\x03\x04\x13\x01"
	}
	if !slices.Equal(items, want) {
		t.Errorf("packed %q, want %q", items, want)
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
