package main

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"net"
	"sync/atomic"
)

// appendTLSState appends what C learns of a TLS connection to b, as the
// packed list bridge.h describes for GOHTTP_F_TLS: 4 bytes (the version
// and the cipher suite's number, two native-endian uint16s), the
// version's name ("TLSv1.3"), the suite's Go name, the server name the
// client asked for (SNI), the ALPN protocol, then the client's
// certificate chain as verified, one DER certificate each, leaf first,
// ending with the trusted CA (none without a client certificate).
//
// It is what every protocol adapter hands on: the native Request, the
// WSGI environ, and an ASGI scope's "tls" extension alike read this one
// block.  Nothing is allocated: the names are constants, the certificates
// copies of bytes the connection keeps.
func appendTLSState(b []byte, cs *tls.ConnectionState) []byte {
	var ids [4]byte
	binary.NativeEndian.PutUint16(ids[0:], cs.Version)
	binary.NativeEndian.PutUint16(ids[2:], cs.CipherSuite)
	b = appendItem(b, string(ids[:]))
	b = appendItem(b, versionName(cs.Version))
	b = appendItem(b, cipherName(cs.CipherSuite))
	b = appendItem(b, cs.ServerName)
	b = appendItem(b, cs.NegotiatedProtocol)
	chain := cs.PeerCertificates
	if len(cs.VerifiedChains) > 0 {
		chain = cs.VerifiedChains[0]
	}
	for _, cert := range chain {
		b = binary.NativeEndian.AppendUint32(b, uint32(len(cert.Raw)))
		b = append(b, cert.Raw...)
	}
	return b
}

// versionName names a TLS version as OpenSSL and mod_ssl's SSL_PROTOCOL
// do.
func versionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return "unknown"
}

// cipherNames are Go's names of the cipher suites, made once:
// tls.CipherSuiteName allocates a list on every call.
var cipherNames = func() map[uint16]string {
	m := map[uint16]string{}
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		m[cs.ID] = cs.Name
	}
	return m
}()

func cipherName(id uint16) string {
	if name, ok := cipherNames[id]; ok {
		return name
	}
	return tls.CipherSuiteName(id) // "0x1301" style
}

// servedCertKey is the context key of a TLS connection's servedCert.
type servedCertKey struct{}

// A servedCert is the certificate a TLS connection's handshake served
// (certSource.get stores it): after a reload, the connections made before
// it still report the certificate they were given.
type servedCert struct {
	cert atomic.Pointer[tls.Certificate]
}

// withServedCert is a TLS server's http.Server.ConnContext: one small
// allocation per connection, none per request.  net/http hands the
// context to the handshake (tls.ClientHelloInfo.Context) and to every
// request of the connection, HTTP/2's too.
func withServedCert(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, servedCertKey{}, &servedCert{})
}
