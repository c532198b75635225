// Command h3bench is the HTTP/2 and HTTP/3 side of bench/run.py: one load
// generator for both protocols, so that their rows compare fairly, and the
// pure Go server they are compared with.
//
//	h3bench -mode load -proto h2 -url https://127.0.0.1:PORT/ -c 50 -m 10 -d 5s -warmup 1s
//	h3bench -mode load -proto h3 -url https://127.0.0.1:PORT/ -c 50 -m 10 -d 5s -warmup 1s
//	h3bench -mode serve -addr 127.0.0.1:PORT -cert CERT -key KEY
//
// load: opens c connections (TLS over TCP with ALPN h2, or QUIC with h3),
// each carrying m streams at once: m goroutines per connection, each
// sending GET and reading the whole response, again and again.  After
// warmup it counts for d and prints one line, "requests N seconds S rate R
// p50_ms P p99_ms Q errors E".  The server's certificate is not verified
// (the benchmark's is self-signed).
//
// serve: net/http over TLS on TCP (HTTP/1.1 and HTTP/2) and quic-go's
// http3 on UDP, both on addr: GET / answers "Hello, world!", until SIGTERM.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/quic-go/quic-go/http3"
)

// client returns an http.Client that keeps one connection of proto to the
// server and multiplexes every request over it.
func client(proto string) (*http.Client, func()) {
	tlsConf := &tls.Config{InsecureSkipVerify: true}
	if proto == "h3" {
		tr := &http3.Transport{TLSClientConfig: tlsConf}
		return &http.Client{Transport: tr}, func() { tr.Close() }
	}
	protos := new(http.Protocols)
	protos.SetHTTP2(true)
	tr := &http.Transport{
		TLSClientConfig:     tlsConf,
		Protocols:           protos,
		MaxConnsPerHost:     1,
		MaxIdleConnsPerHost: 1,
	}
	return &http.Client{Transport: tr}, tr.CloseIdleConnections
}

func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

func load(url, proto string, conns, streams int, warmup, duration time.Duration) error {
	clients := make([]*http.Client, conns)
	for i := range clients {
		c, closer := client(proto)
		defer closer()
		// One request first, so that the connection exists before its
		// streams start (they would otherwise race to dial).
		if err := get(c, url); err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		clients[i] = c
	}
	var counting, stop atomic.Bool
	var errors atomic.Int64
	lat := make([][]time.Duration, conns*streams)
	var wg sync.WaitGroup
	for i := range lat {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := clients[i/streams]
			mine := make([]time.Duration, 0, 1<<14)
			for !stop.Load() {
				t0 := time.Now()
				err := get(c, url)
				if !counting.Load() {
					continue
				}
				if err != nil {
					errors.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			lat[i] = mine
		}(i)
	}
	time.Sleep(warmup)
	counting.Store(true)
	t0 := time.Now()
	time.Sleep(duration)
	counting.Store(false)
	elapsed := time.Since(t0)
	stop.Store(true)
	wg.Wait()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(p*float64(len(all)-1))]) / 1e6
	}
	fmt.Printf("requests %d seconds %.3f rate %.1f p50_ms %.3f p99_ms %.3f errors %d\n",
		len(all), elapsed.Seconds(), float64(len(all))/elapsed.Seconds(),
		pct(0.50), pct(0.99), errors.Load())
	return nil
}

func serve(addr, cert, key string) error {
	body := []byte("Hello, world!")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	pc, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux}
	h3 := &http3.Server{Handler: mux, TLSConfig: http3.ConfigureTLSConfig(&tls.Config{})}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return err
	}
	h3.TLSConfig.Certificates = []tls.Certificate{pair}
	errc := make(chan error, 2)
	go func() { errc <- srv.ServeTLS(ln, cert, key) }()
	go func() { errc <- h3.Serve(pc) }()
	fmt.Printf("listening on %s (tcp and udp)\n", ln.Addr())
	os.Stdout.Sync()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errc:
		return err
	case <-sig:
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		h3.Close()
		return nil
	}
}

func main() {
	mode := flag.String("mode", "load", "load or serve")
	url := flag.String("url", "", "load: the URL to GET")
	proto := flag.String("proto", "h2", "load: h2 (TLS over TCP) or h3 (QUIC)")
	conns := flag.Int("c", 50, "load: connections")
	streams := flag.Int("m", 10, "load: streams at once on each connection")
	duration := flag.Duration("d", 5*time.Second, "load: how long to count")
	warmup := flag.Duration("warmup", time.Second, "load: load before counting")
	addr := flag.String("addr", "127.0.0.1:0", "serve: TCP and UDP address")
	cert := flag.String("cert", "", "serve: certificate (PEM)")
	key := flag.String("key", "", "serve: private key (PEM)")
	flag.Parse()
	var err error
	switch *mode {
	case "load":
		if *proto != "h2" && *proto != "h3" {
			log.Fatalf("-proto %q: h2 or h3", *proto)
		}
		err = load(*url, *proto, *conns, *streams, *warmup, *duration)
	case "serve":
		err = serve(*addr, *cert, *key)
	default:
		err = fmt.Errorf("-mode %q: load or serve", *mode)
	}
	if err != nil {
		log.Fatal(err)
	}
}
