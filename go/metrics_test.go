package main

import (
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMethodIndexIsBounded(t *testing.T) {
	for _, m := range []string{"GET", "PATCH", "TRACE"} {
		if methodNames[methodIndex(m)] != m {
			t.Errorf("methodIndex(%q) names %q", m, methodNames[methodIndex(m)])
		}
	}
	for _, m := range []string{"PROPFIND", "get", ""} {
		if methodNames[methodIndex(m)] != "other" {
			t.Errorf("methodIndex(%q) is not other", m)
		}
	}
}

func TestCountByRouteMethodAndClass(t *testing.T) {
	m := newServerMetrics()
	rc := m.route("GET /items/{id}")
	if m.route("GET /items/{id}") != rc {
		t.Fatal("a route's counts are made twice")
	}
	m.count(rc, "GET", 200)
	m.count(rc, "GET", 204)
	m.count(rc, "BREW", 418)
	m.count(m.route(""), "GET", 404)
	for _, c := range []struct {
		method, code, route string
		want                float64
	}{
		{"GET", "2xx", "GET /items/{id}", 2},
		{"other", "4xx", "GET /items/{id}", 1},
		{"GET", "4xx", noRoute, 1},
	} {
		got := testutil.ToFloat64(m.requests.WithLabelValues(c.method, c.code, c.route))
		if got != c.want {
			t.Errorf("%v: got %v", c, got)
		}
	}
}

func TestConnRecordProtocols(t *testing.T) {
	m := newServerMetrics()
	rec := &connRecord{m: m}
	open := func(p int) float64 { return testutil.ToFloat64(m.connsByProto[p]) }
	rec.first(m, 1)
	rec.first(m, 1) // a keep-alive connection's second request
	if open(protoHTTP1) != 1 {
		t.Fatalf("http/1.1 open: %v", open(protoHTTP1))
	}
	rec.switchTo(protoWebSocket)
	if open(protoHTTP1) != 0 || open(protoWebSocket) != 1 {
		t.Fatalf("after the upgrade: %v %v", open(protoHTTP1), open(protoWebSocket))
	}
	rec.closed()
	rec.closed()
	if open(protoWebSocket) != 0 {
		t.Fatalf("closed, still open: %v", open(protoWebSocket))
	}
	idle := &connRecord{m: m} // closed before any request: never counted
	idle.closed()
	idle.first(m, 2)
	if open(protoHTTP2) != 0 {
		t.Fatalf("a closed connection was counted: %v", open(protoHTTP2))
	}
}

// TestWorkerSetLabelsEachWorker serves two registries on Unix sockets,
// as two workers do, and gathers them as a supervisor does.
func TestWorkerSetLabelsEachWorker(t *testing.T) {
	dir := t.TempDir()
	spec := ""
	for i, n := range []float64{3, 4} {
		reg := prometheus.NewRegistry()
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "hits_total", Help: "Hits."})
		c.Add(n)
		reg.MustRegister(c)
		path := filepath.Join(dir, []string{"a.sock", "b.sock"}[i])
		ln, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		spec += []string{"1", "2"}[i] + "=" + path + "\n"
	}
	ws := &workerSet{}
	if err := ws.set(spec + "3=" + filepath.Join(dir, "gone.sock")); err != nil {
		t.Fatal(err)
	}
	fams, err := ws.Gather()
	if err == nil {
		t.Error("a worker that does not answer is not reported")
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == workerLabel {
					got[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	if got["1"] != 3 || got["2"] != 4 || len(got) != 2 {
		t.Errorf("gathered %v", got)
	}
	if err := ws.set("no label"); err == nil {
		t.Error("a bad spec is taken")
	}
}
