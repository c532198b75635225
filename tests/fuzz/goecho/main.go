// Command goecho is pure Go net/http serving the echo handler of the
// differential fuzzer (tests/fuzz/diff.py), which serves the same handler
// with gohttp and compares what each answers to the same raw bytes.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
)

// echo is what a handler saw, every byte string as Latin-1 so that JSON
// carries any byte: the same document tests/fuzz/echo.py makes.
type echo struct {
	Method        string      `json:"method"`
	URL           string      `json:"url"`
	Path          string      `json:"path"`
	Query         string      `json:"query"`
	Host          string      `json:"host"`
	Proto         string      `json:"proto"`
	Headers       [][2]string `json:"headers"`
	ContentLength *int64      `json:"content_length"`
	Body          string      `json:"body"`
	BodyError     bool        `json:"body_error"`
}

func latin1(s string) string {
	r := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		r[i] = rune(s[i])
	}
	return string(r)
}

func handle(w http.ResponseWriter, r *http.Request) {
	e := echo{Method: latin1(r.Method), URL: latin1(r.RequestURI), Path: latin1(r.URL.Path),
		Query: latin1(r.URL.RawQuery), Host: latin1(r.Host), Proto: latin1(r.Proto), Headers: [][2]string{}}
	for key, values := range r.Header {
		for _, v := range values {
			e.Headers = append(e.Headers, [2]string{latin1(key), latin1(v)})
		}
	}
	slices.SortFunc(e.Headers, func(a, b [2]string) int {
		return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1])
	})
	if r.ContentLength >= 0 {
		e.ContentLength = &r.ContentLength
	}
	body, err := io.ReadAll(r.Body)
	e.Body, e.BodyError = latin1(string(body)), err != nil
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(e)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr())
	os.Stdout.Sync()
	// A ServeMux, as gohttp serves every route through one: its path
	// cleaning and redirects are part of what both answer.
	mux := http.NewServeMux()
	mux.HandleFunc("/", handle)
	log.Fatal(http.Serve(ln, mux))
}
