// loadgen drives an HTTP endpoint with many concurrent keep-alive clients for a fixed time and
// prints requests/s and latency percentiles as one JSON line. Used by ndxp's benchmarks: the
// load generator must not be the bottleneck on a 2-core machine, so it is not Python.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Mode     string  `json:"mode"`
	Clients  int     `json:"clients"`
	Seconds  float64 `json:"seconds"`
	Requests int     `json:"requests"`
	Errors   int64   `json:"errors"`
	RPS      float64 `json:"requests_per_second"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
}

func main() {
	base := flag.String("url", "http://127.0.0.1:8081", "registry base URL")
	mode := flag.String("mode", "get-ids", "get-ids | post-versions | get | token | post")
	path := flag.String("path", "/", "path to GET or POST (get, post)")
	header := flag.String("header", "", "a header to send, 'Name: value' (get, post)")
	bodyFile := flag.String("body", "", "file whose bytes are POSTed as the body (post)")
	contentType := flag.String("content-type", "application/json", "the body's type (post)")
	status := flag.Int("status", 200, "the status code a successful request answers")
	basicAuth := flag.String("basic", "", "client_id:secret for HTTP Basic (token)")
	clients := flag.Int("c", 100, "concurrent clients")
	duration := flag.Duration("d", 30*time.Second, "how long to run")
	ids := flag.Int("ids", 1000, "schema ids to pick from (get-ids)")
	firstID := flag.Int("first-id", 1, "the lowest schema id (get-ids)")
	subjects := flag.Int("subjects", 100, "subjects to spread new versions over (post-versions)")
	prefix := flag.String("prefix", "bench-evolve", "subject prefix (post-versions)")
	flag.Parse()
	var body []byte
	if *mode == "post" {
		var err error
		if body, err = os.ReadFile(*bodyFile); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}

	transport := &http.Transport{MaxIdleConnsPerHost: *clients, MaxConnsPerHost: *clients}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	var counter, errors int64
	latencies := make([][]time.Duration, *clients)
	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < *clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			for time.Now().Before(deadline) {
				var req *http.Request
				switch *mode {
				case "get-ids":
					id := *firstID + rng.Intn(*ids)
					req, _ = http.NewRequest("GET", fmt.Sprintf("%s/schemas/ids/%d", *base, id), nil)
				case "get":
					req, _ = http.NewRequest("GET", *base+*path, nil)
					if name, value, ok := strings.Cut(*header, ":"); ok {
						req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
					}
				case "post":
					req, _ = http.NewRequest("POST", *base+*path, bytes.NewReader(body))
					req.Header.Set("Content-Type", *contentType)
					if name, value, ok := strings.Cut(*header, ":"); ok {
						req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
					}
				case "token":
					form := strings.NewReader("grant_type=client_credentials")
					req, _ = http.NewRequest("POST", *base+"/oauth2/token", form)
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					id, secret, _ := strings.Cut(*basicAuth, ":")
					req.SetBasicAuth(id, secret)
				default:
					n := atomic.AddInt64(&counter, 1)
					req = newVersion(*base, fmt.Sprintf("%s-%d-value", *prefix, n%int64(*subjects)), n)
				}
				began := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != *status {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					atomic.AddInt64(&errors, 1)
					continue
				}
				latencies[w] = append(latencies[w], time.Since(began))
			}
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	var all []time.Duration
	for _, l := range latencies {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pick := func(q float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[int(q*float64(len(all)-1))].Microseconds()) / 1000
	}
	out := result{*mode, *clients, elapsed, len(all), errors, float64(len(all)) / elapsed,
		pick(0.50), pick(0.99), pick(1.0)}
	json.NewEncoder(os.Stdout).Encode(out)
}

// newVersion is a schema with an optional field of its own: compatible with every other version.
func newVersion(base, subject string, n int64) *http.Request {
	schema := fmt.Sprintf(`{"type":"record","name":"Evolving","namespace":"vn.gov.bench",`+
		`"doc":"Benchmark record.","fields":[{"name":"id","type":"string","doc":"Id."},`+
		`{"name":"f%d","type":["null","long"],"default":null,"doc":"Field %d."}]}`, n, n)
	body, _ := json.Marshal(map[string]string{"schema": schema})
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/subjects/%s/versions", base, subject),
		bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	return req
}
