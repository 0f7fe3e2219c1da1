// sseclient holds many SSE streams of ndxp subscriptions open and measures what they receive:
// records per stream, and publish -> delivered latency from each record's ndxp-published-at
// header. Used by `make bench-streams`: 2,000 streams read in Python would make the client,
// not the gateway, the bottleneck.
//
// Protocol: subscription ids on stdin, one a line, then an empty line; it opens every stream,
// prints "open" on stdout once all answered 200, then waits for a line "expect N" on stdin and
// reads until every stream received N records (or -wait passes) and prints one JSON line.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Streams   int     `json:"streams"`
	Expected  int64   `json:"expected"`
	Delivered int64   `json:"delivered"`
	Errors    int64   `json:"errors"`
	Closed    int64   `json:"closed"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
}

// When a record was published: its ndxp-published-at header, else its Kafka timestamp.
var markers = [][]byte{[]byte(`"ndxp-published-at":"`), []byte(`"timestamp":"`)}

func publishedAt(line []byte) (time.Time, bool) {
	for _, marker := range markers {
		if at := bytes.Index(line, marker); at >= 0 {
			rest := line[at+len(marker):]
			if end := bytes.IndexByte(rest, '"'); end > 0 {
				if t, err := time.Parse(time.RFC3339Nano, string(rest[:end])); err == nil {
					return t, true
				}
			}
		}
	}
	return time.Time{}, false
}

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "gateway base URL")
	token := flag.String("token", "", "bearer token")
	wait := flag.Duration("wait", 60*time.Second, "how long to wait for every record")
	flag.Parse()

	in := bufio.NewScanner(os.Stdin)
	var subs []string
	for in.Scan() {
		line := strings.TrimSpace(in.Text())
		if line == "" {
			break
		}
		subs = append(subs, line)
	}
	transport := &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: len(subs) + 1}
	client := &http.Client{Transport: transport}

	type stream struct {
		mu        sync.Mutex
		latencies []float64 // ms, one per record
	}
	var (
		errors    int64
		closed    int64
		delivered int64
		counts    = make([]int64, len(subs))
		streams   = make([]stream, len(subs))
		opened    sync.WaitGroup
	)
	gate := make(chan struct{}, 32) // streams being opened at once
	for i, sub := range subs {
		opened.Add(1)
		go func(i int, sub string) {
			gate <- struct{}{}
			req, _ := http.NewRequest("GET", *base+"/v1/subscriptions/"+sub+"/stream", nil)
			req.Header.Set("Authorization", "Bearer "+*token)
			resp, err := client.Do(req)
			<-gate
			if err != nil || resp.StatusCode != 200 {
				atomic.AddInt64(&errors, 1)
				opened.Done()
				return
			}
			opened.Done()
			defer resp.Body.Close()
			reader := bufio.NewReaderSize(resp.Body, 64*1024)
			own := &streams[i]
			record := false
			for {
				line, err := reader.ReadSlice('\n')
				if err != nil {
					break
				}
				if bytes.HasPrefix(line, []byte("event: ")) {
					record = bytes.Equal(line, []byte("event: record\n"))
					if !record {
						atomic.AddInt64(&closed, 1) // event: closed, the stream's last
					}
					continue
				}
				if !record || !bytes.HasPrefix(line, []byte("data: ")) {
					continue
				}
				now := time.Now()
				if t, ok := publishedAt(line); ok {
					own.mu.Lock()
					own.latencies = append(own.latencies, float64(now.Sub(t).Microseconds())/1000)
					own.mu.Unlock()
				}
				atomic.AddInt64(&counts[i], 1)
				atomic.AddInt64(&delivered, 1)
			}
		}(i, sub)
	}
	opened.Wait()
	fmt.Println("open")

	var expect int64
	for in.Scan() {
		if _, err := fmt.Sscanf(in.Text(), "expect %d", &expect); err == nil {
			break
		}
	}
	deadline := time.Now().Add(*wait)
	for time.Now().Before(deadline) {
		all := true
		for i := range counts {
			if atomic.LoadInt64(&counts[i]) < expect {
				all = false
				break
			}
		}
		if all {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	got := atomic.LoadInt64(&delivered)
	var latencies []float64
	for i := range streams {
		streams[i].mu.Lock()
		latencies = append(latencies, streams[i].latencies...)
		streams[i].mu.Unlock()
	}
	sort.Float64s(latencies)
	pick := func(q float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[int(q*float64(len(latencies)-1))]
	}
	out, _ := json.Marshal(result{
		Streams: len(subs), Expected: expect * int64(len(subs)), Delivered: got,
		Errors: atomic.LoadInt64(&errors), Closed: atomic.LoadInt64(&closed), P50ms: pick(0.5), P99ms: pick(0.99), MaxMs: pick(1),
	})
	fmt.Println(string(out))
	os.Exit(0)
}
