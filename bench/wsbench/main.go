// Command wsbench is the WebSocket side of bench/run.py: its load
// generator, and the pure Go WebSocket server the other rows are compared
// with.
//
//	wsbench -mode echo -url ws://127.0.0.1:PORT/ws -c 50 -d 5s -warmup 1s
//	wsbench -mode idle -url ws://127.0.0.1:PORT/ws -c 10000
//	wsbench -mode serve -addr 127.0.0.1:PORT
//
// echo: c connections each send a small text message and wait for its
// echo, again and again; after warmup it counts for d and prints one line,
// "messages N seconds S rate R p50_ms P p99_ms Q errors E".
//
// idle: opens c connections (at most 100 handshakes at a time), prints
// "open N errors E" once they are all open, then holds them, answering
// pings, until standard input closes; then closes them all and exits.
//
// serve: net/http and github.com/coder/websocket (the library gohttp uses)
// alone: GET / answers "Hello, world!", a WebSocket to /ws is echoed, with
// compression off, until SIGTERM.
//
// The clients never offer compression, so every server sends plain frames.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

func dial(ctx context.Context, url string) (*websocket.Conn, error) {
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		CompressionMode: websocket.CompressionDisabled,
	})
	return conn, err
}

func echo(url string, clients int, warmup, duration time.Duration, size int) error {
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = 'x'
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		conn, err := dial(ctx, url)
		if err != nil {
			return fmt.Errorf("dial %d: %w", i, err)
		}
		conn.SetReadLimit(1 << 20)
		conns[i] = conn
	}
	var counting atomic.Bool
	var stop atomic.Bool
	var errors atomic.Int64
	latencies := make([][]time.Duration, clients)
	counts := make([]int64, clients)
	var wg sync.WaitGroup
	for i, conn := range conns {
		wg.Add(1)
		go func(i int, conn *websocket.Conn) {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<16)
			for !stop.Load() {
				t0 := time.Now()
				if err := conn.Write(ctx, websocket.MessageText, msg); err != nil {
					errors.Add(1)
					return
				}
				_, got, err := conn.Read(ctx)
				if err != nil || len(got) != len(msg) {
					errors.Add(1)
					return
				}
				if counting.Load() {
					counts[i]++
					if len(lat) < cap(lat) {
						lat = append(lat, time.Since(t0))
					}
				}
			}
			latencies[i] = lat
		}(i, conn)
	}
	time.Sleep(warmup)
	counting.Store(true)
	t0 := time.Now()
	time.Sleep(duration)
	counting.Store(false)
	elapsed := time.Since(t0)
	stop.Store(true)
	wg.Wait()
	for _, conn := range conns {
		conn.Close(websocket.StatusNormalClosure, "")
	}
	var total int64
	var all []time.Duration
	for i := range counts {
		total += counts[i]
		all = append(all, latencies[i]...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(p*float64(len(all)-1))]) / 1e6
	}
	fmt.Printf("messages %d seconds %.3f rate %.1f p50_ms %.3f p99_ms %.3f errors %d\n",
		total, elapsed.Seconds(), float64(total)/elapsed.Seconds(),
		pct(0.50), pct(0.99), errors.Load())
	return nil
}

func idle(url string, clients int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conns := make([]*websocket.Conn, clients)
	var errors atomic.Int64
	var wg sync.WaitGroup
	gate := make(chan struct{}, 100)
	for i := range conns {
		wg.Add(1)
		gate <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-gate }()
			conn, err := dial(ctx, url)
			if err != nil {
				if errors.Add(1) == 1 {
					fmt.Fprintln(os.Stderr, "wsbench:", err)
				}
				return
			}
			conn.CloseRead(ctx) // answers pings; reads no data
			conns[i] = conn
		}(i)
	}
	wg.Wait()
	fmt.Printf("open %d errors %d\n", int64(clients)-errors.Load(), errors.Load())
	io.Copy(io.Discard, bufio.NewReader(os.Stdin))
	for _, conn := range conns {
		if conn != nil {
			conn.Close(websocket.StatusNormalClosure, "")
		}
	}
	return nil
}

func serve(addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("Hello, world!"))
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			CompressionMode: websocket.CompressionDisabled,
		})
		if err != nil {
			return
		}
		defer conn.CloseNow()
		conn.SetReadLimit(16 << 20)
		ctx := r.Context()
		for {
			kind, data, err := conn.Read(ctx)
			if err != nil {
				return
			}
			if err := conn.Write(ctx, kind, data); err != nil {
				return
			}
		}
	})
	srv := &http.Server{Addr: addr, Handler: mux}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	go func() {
		<-stop
		srv.Close()
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func main() {
	mode := flag.String("mode", "echo", "echo, idle or serve")
	addr := flag.String("addr", "127.0.0.1:8000", "serve: where to listen")
	url := flag.String("url", "", "ws://host:port/path")
	clients := flag.Int("c", 50, "connections")
	duration := flag.Duration("d", 5*time.Second, "echo: how long to count")
	warmup := flag.Duration("warmup", time.Second, "echo: load before counting")
	size := flag.Int("size", 16, "echo: message size in bytes")
	flag.Parse()
	var err error
	switch *mode {
	case "echo":
		err = echo(*url, *clients, *warmup, *duration, *size)
	case "idle":
		err = idle(*url, *clients)
	case "serve":
		err = serve(*addr)
	default:
		err = fmt.Errorf("unknown -mode %q", *mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", err)
		os.Exit(1)
	}
}
