package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
)

// tlsOptions is what a server's TLS takes from gohttp_config (bridge.h).
// Every field is optional but certFile, without which there is no TLS.
type tlsOptions struct {
	certFile, keyFile string
	keyPassword       string // for a legacy-encrypted PEM key
	caFile            string // CAs that sign client certificates
	clientAuth        int    // 0 none, 1 optional, 2 required (bridge.h)
	minVersion        string // "1.2" or "1.3"; "" is 1.2
	ciphers           string // Go names, comma-separated; "": Go's
}

// loadTLS makes a server's TLS configuration from o: nil, nil without
// TLS.  The certificate comes from a certSource, which serves it by
// GetCertificate and reloads it when its files change (tls_reload.go).
// A missing file is an I/O error with its errno; everything else wrong
// is an EINVAL error that says what and how to mend it.
func loadTLS(o tlsOptions) (*tls.Config, *certSource, error) {
	switch {
	case o.certFile == "" && o.keyFile == "":
		if o.caFile != "" || o.clientAuth != 0 || o.keyPassword != "" {
			return nil, nil, errInvalid("ssl_ca_certs, ssl_cert_reqs and ssl_keyfile_password need TLS: give certfile too")
		}
		return nil, nil, nil
	case o.certFile == "":
		return nil, nil, errInvalid("keyfile is set but certfile is not: TLS needs both")
	case o.keyFile == "":
		o.keyFile = o.certFile
	}
	certs, err := newCertSource(o.certFile, o.keyFile, o.keyPassword)
	if err != nil {
		return nil, nil, err
	}
	cfg := &tls.Config{GetCertificate: certs.get}
	if cfg.MinVersion, err = tlsVersion(o.minVersion); err != nil {
		return nil, nil, err
	}
	if cfg.CipherSuites, err = cipherSuites(o.ciphers); err != nil {
		return nil, nil, err
	}
	if err := setClientAuth(cfg, o.caFile, o.clientAuth); err != nil {
		return nil, nil, err
	}
	return cfg, certs, nil
}

// loadKeyPair reads a certificate chain and its private key (PEM files;
// one file may hold both).  A key encrypted the legacy PEM way
// ("Proc-Type: 4,ENCRYPTED", as openssl's -traditional writes it) is
// decrypted with password; Go's standard library reads no other
// encrypted form (PKCS#8 "ENCRYPTED PRIVATE KEY"), so those are refused
// with the openssl command that converts them.
func loadKeyPair(certFile, keyFile, password string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, err // "open cert.pem: no such file or directory"
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	plainPEM, err := decryptKey(keyFile, keyPEM, password)
	if err != nil {
		return tls.Certificate{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, plainPEM)
	if err != nil {
		hint := ""
		if password != "" && !bytes.Equal(plainPEM, keyPEM) {
			// A wrong password passes DecryptPEMBlock's padding check
			// once in a while, and the key is then garbage.
			hint = " (is ssl_keyfile_password wrong?)"
		}
		return tls.Certificate{}, errInvalid("certfile %s with keyfile %s: %v%s", certFile, keyFile, err, hint)
	}
	return cert, nil
}

// convertHint tells how to turn a key Go cannot decrypt into one it can.
const convertHint = "convert it with: openssl pkey -in KEY -traditional -aes256 -out legacy.pem " +
	"(a legacy-encrypted PEM key, read with ssl_keyfile_password), or decrypt it: openssl pkey -in KEY -out plain.pem"

// decryptKey returns keyPEM with its private key decrypted if it was
// encrypted the legacy PEM way; other blocks pass through.
func decryptKey(keyFile string, keyPEM []byte, password string) ([]byte, error) {
	var out []byte
	rest := keyPEM
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch {
		case block.Type == "ENCRYPTED PRIVATE KEY":
			return nil, errInvalid("keyfile %s is a password-protected PKCS#8 key, which Go cannot read: %s", keyFile, convertHint)
		//lint:ignore SA1019 the only decryption of PEM keys in Go's standard library
		case x509.IsEncryptedPEMBlock(block): //nolint:staticcheck
			if password == "" {
				return nil, errInvalid("keyfile %s is password-protected: give its password (ssl_keyfile_password, or the GOHTTP_SSL_KEYFILE_PASSWORD variable)", keyFile)
			}
			der, err := x509.DecryptPEMBlock(block, []byte(password)) //nolint:staticcheck
			if err != nil {
				return nil, errInvalid("keyfile %s: wrong password (ssl_keyfile_password): %v", keyFile, err)
			}
			block = &pem.Block{Type: block.Type, Bytes: der}
		}
		out = append(out, pem.EncodeToMemory(block)...)
	}
	if out == nil {
		return keyPEM, nil // not PEM: X509KeyPair says so
	}
	return out, nil
}

// tlsVersion reads a minimum TLS version: "1.2" (also "" and
// "TLSv1.2") or "1.3".
func tlsVersion(s string) (uint16, error) {
	switch strings.TrimPrefix(strings.ReplaceAll(s, "_", "."), "TLSv") {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, errInvalid("ssl_min_version must be 1.2 or 1.3 (or TLSv1.2, TLSv1.3), not %q", s)
}

// cipherSuites reads a comma-separated list of Go's cipher suite names
// for TLS 1.0-1.2; "" keeps Go's defaults.  TLS 1.3's suites are not
// configurable in Go.
func cipherSuites(list string) ([]uint16, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	byName := map[string]*tls.CipherSuite{}
	var names []string // the secure ones, for the error: it must fit gohttp_error
	for _, cs := range tls.CipherSuites() {
		byName[cs.Name] = cs
		if tls12Capable(cs) {
			names = append(names, cs.Name)
		}
	}
	for _, cs := range tls.InsecureCipherSuites() {
		byName[cs.Name] = cs
	}
	sort.Strings(names)
	var ids []uint16
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		cs, ok := byName[name]
		switch {
		case name == "":
			continue
		case !ok:
			return nil, errInvalid("ssl_ciphers: unknown cipher suite %q: want Go's names, such as %s", name, strings.Join(names, ", "))
		case !tls12Capable(cs):
			return nil, errInvalid("ssl_ciphers: %s is a TLS 1.3 suite, which Go does not let anyone choose: name TLS 1.2 suites only", name)
		}
		ids = append(ids, cs.ID)
	}
	if len(ids) == 0 {
		return nil, errInvalid("ssl_ciphers names no cipher suite: %q", list)
	}
	// net/http refuses to serve HTTP/2 otherwise (RFC 9113, 9.2.2).
	if !slices.Contains(ids, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) && !slices.Contains(ids, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) {
		return nil, errInvalid("ssl_ciphers must include TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (for the key's type), which HTTP/2 requires")
	}
	return ids, nil
}

func tls12Capable(cs *tls.CipherSuite) bool {
	for _, v := range cs.SupportedVersions {
		if v == tls.VersionTLS12 {
			return true
		}
	}
	return false
}

// setClientAuth asks clients for certificates signed by the CAs of
// caFile: clientAuth 1 verifies one if given, 2 requires one.
func setClientAuth(cfg *tls.Config, caFile string, clientAuth int) error {
	switch clientAuth {
	case 0:
		cfg.ClientAuth = tls.NoClientCert
		return nil // uvicorn's default: ssl_ca_certs alone asks for nothing
	case 1:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case 2:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return errInvalid("ssl_cert_reqs must be none, optional or required")
	}
	if caFile == "" {
		return errInvalid("ssl_cert_reqs optional or required needs ssl_ca_certs: the CAs that sign client certificates")
	}
	pemCAs, err := os.ReadFile(caFile)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return err
		}
		return fmt.Errorf("ssl_ca_certs: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCAs) {
		return errInvalid("ssl_ca_certs %s holds no PEM certificate", caFile)
	}
	cfg.ClientCAs = pool
	return nil
}

// protocols is what a server speaks: HTTP/1.1 always, HTTP/2 under TLS
// (chosen by ALPN), and HTTP/2 with prior knowledge on cleartext
// connections (h2c) only when asked.
func protocols(h2c bool) *http.Protocols {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(h2c)
	return p
}
