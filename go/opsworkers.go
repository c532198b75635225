package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"
)

// With worker processes, one scrape shows them all: each worker serves
// its metrics on a Unix socket of its own that only the supervisor knows,
// and the supervisor's /metrics fetches every worker's (in the protobuf
// exposition, nothing lost in a text round trip), labels each series
// worker="N" (the worker's slot, 1 to N: a replacement takes its slot,
// so the label set stays bounded), and serves them together with its own
// Go and process metrics, labelled worker="supervisor".  Sums across
// workers are PromQL's (sum without (worker) (...)): the supervisor adds
// nothing up, so no histogram is merged wrong and a worker's restart is
// a counter reset as rate() expects.

// workerLabel is the label the supervisor adds to each worker's series.
const workerLabel = "worker"

// scrapeTimeout bounds how long the supervisor waits for one worker.
const scrapeTimeout = 5 * time.Second

// A workerSet is the workers a supervisor's /metrics gathers from.
type workerSet struct {
	mu      sync.Mutex
	sockets map[string]string // label value -> Unix socket path
}

// set replaces the workers with spec: lines "LABEL=PATH".
func (ws *workerSet) set(spec string) error {
	sockets := map[string]string{}
	for _, line := range strings.Split(spec, "\n") {
		if line == "" {
			continue
		}
		label, path, ok := strings.Cut(line, "=")
		if !ok || label == "" || path == "" {
			return errInvalid("bad worker %q: want LABEL=PATH", line)
		}
		sockets[label] = path
	}
	ws.mu.Lock()
	ws.sockets = sockets
	ws.mu.Unlock()
	return nil
}

// Gather fetches every worker's metrics at once and labels them.  A
// worker that does not answer is left out, and named in the error
// (promhttp then serves the others, and logs nothing to the client).
func (ws *workerSet) Gather() ([]*dto.MetricFamily, error) {
	ws.mu.Lock()
	sockets := ws.sockets
	ws.mu.Unlock()
	type result struct {
		label string
		fams  []*dto.MetricFamily
		err   error
	}
	results := make(chan result, len(sockets))
	for label, path := range sockets {
		go func() {
			fams, err := scrapeUnix(path)
			results <- result{label, fams, err}
		}()
	}
	byName := map[string]*dto.MetricFamily{}
	var errs []error
	for range sockets {
		r := <-results
		if r.err != nil {
			errs = append(errs, fmt.Errorf("worker %s: %w", r.label, r.err))
			continue
		}
		for _, f := range r.fams {
			merged, ok := byName[f.GetName()]
			if !ok {
				merged = &dto.MetricFamily{Name: f.Name, Help: f.Help, Type: f.Type, Unit: f.Unit}
				byName[f.GetName()] = merged
			}
			for _, m := range f.Metric {
				m.Label = withLabel(m.Label, workerLabel, r.label)
				merged.Metric = append(merged.Metric, m)
			}
		}
	}
	fams := make([]*dto.MetricFamily, 0, len(byName))
	for _, f := range byName {
		fams = append(fams, f)
	}
	return fams, errors.Join(errs...)
}

// withLabel returns labels with name=value among them, sorted by name as
// the exposition wants.
func withLabel(labels []*dto.LabelPair, name, value string) []*dto.LabelPair {
	labels = append(labels, &dto.LabelPair{Name: proto.String(name), Value: proto.String(value)})
	sort.Slice(labels, func(i, j int) bool { return labels[i].GetName() < labels[j].GetName() })
	return labels
}

// scrapeUnix fetches the metrics served on the Unix socket path.
func scrapeUnix(path string) ([]*dto.MetricFamily, error) {
	client := &http.Client{
		Timeout: scrapeTimeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
			DisableKeepAlives: true,
		},
	}
	req, err := http.NewRequest("GET", "http://worker/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", string(expfmt.NewFormat(expfmt.TypeProtoDelim)))
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics answered %s", resp.Status)
	}
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	var fams []*dto.MetricFamily
	for {
		f := &dto.MetricFamily{}
		if err := dec.Decode(f); err != nil {
			if errors.Is(err, io.EOF) {
				return fams, nil
			}
			return fams, err
		}
		fams = append(fams, f)
	}
}

// supervisorGatherer is what a supervisor's /metrics serves: its own Go
// and process metrics, labelled worker="supervisor", and its workers'.
func supervisorGatherer(ws *workerSet) prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	own := prometheus.WrapRegistererWith(prometheus.Labels{workerLabel: "supervisor"}, reg)
	own.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return prometheus.Gatherers{reg, ws}
}
