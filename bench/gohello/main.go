// Command gohello is the pure Go net/http baseline of gohttp's benchmark:
// the same hello world, served by Go alone.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	static := flag.String("static", "", "serve GET / from the files in this directory instead")
	readHeaderTimeout := flag.Duration("read-header-timeout", 0, "http.Server.ReadHeaderTimeout (0: none)")
	idleTimeout := flag.Duration("idle-timeout", 0, "http.Server.IdleTimeout (0: none)")
	cert := flag.String("cert", "", "serve TLS (HTTP/1.1 and HTTP/2) with this certificate (PEM)")
	key := flag.String("key", "", "the private key of -cert (PEM)")
	reusePort := flag.Bool("reuseport", false, "listen with SO_REUSEPORT, so that several processes serve one port, as gohttp's workers do")
	procs := flag.Int("procs", 1, "serve from this many processes, each with SO_REUSEPORT and GOMAXPROCS the CPUs divided among them (rounded up), as gohttp's --workers does; -addr needs a port other than 0")
	bytesRoutes := flag.Bool("bytes", false, "also GET /download (1 MiB) and POST /upload (answers the body's length), the realistic apps' routes")
	flag.Parse()
	body := []byte("Hello, world!")
	mux := http.NewServeMux()
	if *static != "" {
		mux.Handle("GET /", http.FileServer(http.Dir(*static)))
	} else {
		mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.Write(body)
		})
	}
	// The body is read whole before the response starts: once an HTTP/1.x
	// response has flushed its headers, net/http discards the rest of the
	// request body (a 64 KiB echo written as it is read stops at 32 KiB).
	// The Python apps of the benchmark do the same.  A known length is read
	// into one buffer of that size, as the servers it is compared with do.
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		data, err := readBody(r, 1<<20)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(data)
	})
	// Off by default, so that the hello rows' mux stays the one gohttp's
	// native app has.
	if *bytesRoutes {
		mib := bytes.Repeat([]byte("x"), 1<<20)
		mux.HandleFunc("GET /download", func(w http.ResponseWriter, r *http.Request) {
			// With its length, as the Python servers send it: else
			// net/http sends a body over 2 KiB chunked.
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.Itoa(len(mib)))
			w.Write(mib)
		})
		mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
			// Read whole into memory, as the Python apps do.
			data, err := readBody(r, 1<<24)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, len(data))
		})
	}
	if *procs > 1 {
		*reusePort = true
		startCopies(*procs)
	}
	var lc net.ListenConfig
	if *reusePort {
		lc.Control = func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stdout, "listening on %s\n", ln.Addr())
	os.Stdout.Sync()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: *readHeaderTimeout, IdleTimeout: *idleTimeout}
	if *cert != "" {
		log.Fatal(srv.ServeTLS(ln, *cert, *key))
	}
	log.Fatal(srv.Serve(ln))
}

// startCopies starts procs-1 copies of this process on the same
// arguments but -procs 1, and gives this one and each copy the CPUs
// divided among procs (gohttp's go_procs, in _supervisor.py), unless
// GOMAXPROCS is set.  A copy is killed when this process exits.
func startCopies(procs int) {
	perProc := (runtime.NumCPU() + procs - 1) / procs
	env := os.Environ()
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(perProc)
		env = append(env, "GOMAXPROCS="+strconv.Itoa(perProc))
	}
	args := append(os.Args[1:], "-procs", "1", "-reuseport")
	for range procs - 1 {
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = env
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			log.Fatal(err)
		}
	}
}

// readBody reads r's body whole: a known length up to limit into one
// buffer of that size, as the servers it is compared with do; else as it
// comes.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= limit {
		data := make([]byte, n)
		_, err := io.ReadFull(r.Body, data)
		return data, err
	}
	return io.ReadAll(r.Body)
}
