package main

import (
	"crypto/tls"
	"errors"
	"io/fs"
	"net/http"
	"strings"
)

// loadTLS reads a certificate chain and its private key (PEM files; one
// file may hold both) into a TLS configuration.  A missing file is an
// I/O error with its errno; a pair that does not match, a file that is
// not PEM, or an encrypted key is an EINVAL error that says so.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case certFile == "":
		return nil, errInvalid("keyfile is set but certfile is not: TLS needs both")
	case keyFile == "":
		keyFile = certFile
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, err // "open cert.pem: no such file or directory"
		}
		msg := err.Error()
		if strings.Contains(msg, "private key") && strings.Contains(msg, "parse") {
			msg += " (a password-protected key is not supported: decrypt it first, e.g. openssl pkey -in key.pem -out plain.pem)"
		}
		return nil, errInvalid("certfile %s with keyfile %s: %s", certFile, keyFile, msg)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, nil
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
