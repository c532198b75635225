// Command latgen is bench/tail.py's load generator: -c keep-alive
// connections each send GET / and read the answer in a closed loop, as
// wrk does, for -d, and it writes when each request was sent and its
// answer read, so that tail.py can drop the requests another process
// on the machine delayed.
//
// The output (-o) is little-endian int64 pairs, send then receive, in
// CLOCK_MONOTONIC nanoseconds: the clock `perf record -k mono` stamps
// its events with.  It prints the number of requests.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// monotonic reads CLOCK_MONOTONIC; Go's monotonic readings share its
// rate but not its origin, so it is read once, to place them.
func monotonic() int64 {
	var ts syscall.Timespec
	const clockMonotonic = 1
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic,
		uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		log.Fatalf("clock_gettime: %v", errno)
	}
	return ts.Nano()
}

func main() {
	addr := flag.String("addr", "", "host:port to load")
	conns := flag.Int("c", 50, "connections")
	dur := flag.Duration("d", 3*time.Second, "how long")
	out := flag.String("o", "", "file for the send and receive times")
	flag.Parse()
	if *addr == "" || *out == "" {
		log.Fatal("latgen: -addr and -o are needed")
	}
	start, origin := time.Now(), monotonic()
	end := start.Add(*dur)
	request := []byte("GET / HTTP/1.1\r\nHost: " + *addr + "\r\n\r\n")
	var (
		mu    sync.Mutex
		times [][]int64
		wg    sync.WaitGroup
	)
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := load(*addr, request, start, end, origin)
			mu.Lock()
			times = append(times, got)
			mu.Unlock()
		}()
	}
	wg.Wait()
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	w := bufio.NewWriter(f)
	n := 0
	for _, t := range times {
		if err := binary.Write(w, binary.LittleEndian, t); err != nil {
			log.Fatal(err)
		}
		n += len(t) / 2
	}
	if err := w.Flush(); err != nil {
		log.Fatal(err)
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(n)
}

// load runs one connection until end and returns its requests' send and
// receive times.  A connection that fails stops; its requests so far
// count.
func load(addr string, request []byte, start, end time.Time, origin int64) []int64 {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		log.Print(err)
		return nil
	}
	defer c.Close()
	r := bufio.NewReader(c)
	times := make([]int64, 0, 1<<16)
	for {
		sent := time.Now()
		if sent.After(end) {
			return times
		}
		if _, err := c.Write(request); err != nil {
			return times
		}
		length := 0
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return times
			}
			if len(line) <= 2 {
				break
			}
			const name = "content-length:"
			if len(line) > len(name) && bytes.EqualFold(line[:len(name)], []byte(name)) {
				length, _ = strconv.Atoi(string(bytes.TrimSpace(line[len(name):])))
			}
		}
		if _, err := r.Discard(length); err != nil {
			return times
		}
		times = append(times, origin+int64(sent.Sub(start)), origin+int64(time.Since(start)))
	}
}
