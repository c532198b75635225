package main

import (
	"crypto/tls"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// reloadCheckEvery is how often, at most, a handshake looks whether the
// certificate's files have changed.
const reloadCheckEvery = time.Second

// A certSource serves a server's certificate to every handshake (as
// tls.Config.GetCertificate) and replaces it, without a restart, when
// its files change or when asked (SIGHUP: reload).
//
// The files are looked at on a handshake, at most once per
// reloadCheckEvery: two stats then, none in between and none while no
// client connects, and a renewed certificate (an ACME client's) is served
// from the first handshake after that.  A file that cannot be loaded
// (half-written, a key that does not match the new certificate yet)
// leaves the current certificate in place and is logged once; it is
// tried again when the files change again, so a certificate and key
// renewed one after the other are picked up when both are in place.
type certSource struct {
	certFile, keyFile, password string

	cur  atomic.Pointer[tls.Certificate]
	next atomic.Int64 // when the files may next be looked at (UnixNano)

	mu   sync.Mutex // serializes loads; guards seen
	seen fileStamps // the files as the last load attempt found them
}

// fileStamps tells whether a file has changed: what stat says of each.
type fileStamps [2]fileStamp

type fileStamp struct {
	ino, size, mtime int64
	missing          bool
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path) // follows symbolic links, as ACME clients' live/ names are
	if err != nil {
		return fileStamp{missing: true}
	}
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = int64(sys.Ino)
	}
	return st
}

func (cs *certSource) stamps() fileStamps {
	return fileStamps{stampOf(cs.certFile), stampOf(cs.keyFile)}
}

// newCertSource loads the pair once; its error is the server's start
// error.
func newCertSource(certFile, keyFile, password string) (*certSource, error) {
	cs := &certSource{certFile: certFile, keyFile: keyFile, password: password}
	if err := cs.reload(); err != nil {
		return nil, err
	}
	cs.next.Store(time.Now().Add(reloadCheckEvery).UnixNano())
	return cs, nil
}

// reload loads the files now; on error the current certificate stays.
func (cs *certSource) reload() error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.seen = cs.stamps() // before the read: a change meanwhile is seen next time
	cert, err := loadKeyPair(cs.certFile, cs.keyFile, cs.password)
	if err != nil {
		return err
	}
	cs.cur.Store(&cert)
	return nil
}

// get is the tls.Config's GetCertificate: the current certificate, after
// a look at the files if it is time.
func (cs *certSource) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	now := time.Now().UnixNano()
	if next := cs.next.Load(); now >= next && cs.next.CompareAndSwap(next, now+int64(reloadCheckEvery)) {
		cs.reloadIfChanged()
	}
	cert := cs.cur.Load()
	if hello != nil && hello.Context() != nil {
		if served, ok := hello.Context().Value(servedCertKey{}).(*servedCert); ok {
			served.cert.Store(cert) // what this connection's requests report
		}
	}
	return cert, nil
}

// reloadIfChanged reloads if the files differ from the last attempt.
// No Python can be reached from a handshake without taking the GIL on
// Go's thread, so a failure goes to Go's log, on standard error.
func (cs *certSource) reloadIfChanged() {
	cs.mu.Lock()
	changed := cs.stamps() != cs.seen
	cs.mu.Unlock()
	if !changed {
		return
	}
	if err := cs.reload(); err != nil {
		log.Printf("gohttp: TLS: the certificate files changed but cannot be loaded, so the current certificate stays: %v", err)
		return
	}
	log.Printf("gohttp: TLS: reloaded the certificate from %s", cs.certFile)
}

// reloadTLS reloads the certificate of a serving TLS server now.
func (s *server) reloadTLS() error {
	s.mu.Lock()
	certs, state := s.certs, s.state
	s.mu.Unlock()
	switch {
	case state != stateServing:
		return errServerState("the server is not serving: nothing to reload")
	case certs == nil:
		return errServerState("the server does not serve TLS: there is no certificate to reload")
	}
	return certs.reload()
}
