// Command h3client makes HTTP/3 requests with quic-go's client, for the
// tests (tests/test_http3.py builds it): each URL in turn on one QUIC
// connection, printing one JSON line per response.
//
//	h3client [-X METHOD] [-d BODY] [-H 'Name: value'] [-each] URL...
//
// -each opens a new connection (a new UDP port) for every URL.
//
//	h3client -fault stall|streams|migrate|handshakes [-n N] URL
//
// makes one of the faults of faults.go instead.
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/quic-go/quic-go/http3"
)

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// result is one response, or the error that stood for it.
type result struct {
	Status  int                 `json:"status"`
	Proto   string              `json:"proto"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
	Error   string              `json:"error,omitempty"`
}

func main() {
	method := flag.String("X", "GET", "request method")
	body := flag.String("d", "", "request body")
	var headers headerFlags
	flag.Var(&headers, "H", "a request header, 'Name: value' (repeatable)")
	each := flag.Bool("each", false, "a new connection for every URL")
	fault := flag.String("fault", "", "stall, streams, migrate or handshakes (faults.go)")
	n := flag.Int("n", 1, "how many streams or requests a fault makes")
	flag.Parse()
	if *fault != "" {
		if err := runFault(*fault, flag.Arg(0), *n, json.NewEncoder(os.Stdout)); err != nil {
			fmt.Fprintln(os.Stderr, "h3client:", err)
			os.Exit(1)
		}
		return
	}

	newClient := func() (*http.Client, *http3.Transport) {
		tr := &http3.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		return &http.Client{Transport: tr}, tr
	}
	client, tr := newClient()
	out := json.NewEncoder(os.Stdout)
	failed := false
	for i, url := range flag.Args() {
		if *each && i > 0 {
			tr.Close()
			client, tr = newClient()
		}
		var r result
		if err := fetch(client, *method, url, *body, headers, &r); err != nil {
			r.Error = err.Error()
			failed = true
		}
		out.Encode(&r)
	}
	tr.Close()
	if failed {
		os.Exit(1)
	}
}

func fetch(client *http.Client, method, url, body string, headers []string, r *result) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	for _, h := range headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return fmt.Errorf("bad header %q: want 'Name: value'", h)
		}
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	r.Status, r.Proto, r.Headers, r.Body = resp.StatusCode, resp.Proto, resp.Header, string(b)
	return err
}
