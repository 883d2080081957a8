// Command go-crawler is the c10k crawler in Go, as a reference row: goroutine workers that
// each fetch one page at a time with net.Dial and blocking reads, on a frontier under a
// mutex. Standard library only (Go 1.19 or later).
//
// It is not one of the crawlers under study: it is the row readers who would write Go compare
// the Rust ones with. So it obeys the rules of the Rust core (crates/core/src), each file here
// named after the one it mirrors, and --urls-out writes the same sorted STATUS<TAB>URL lines
// as `c10k crawl`; tests/peers.rs checks both on the test site. What it cannot follow to the
// letter is said where it happens: hosts with non-ASCII names (urls.go), CJK page encodings
// (charset.go).
//
// Usage: go-crawler http://127.0.0.1:PORT/ --concurrency 100 --json --urls-out FILE
// Exit status 0 when the crawl ran, 1 when the root could not be fetched, 2 on bad arguments.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	strategy  = "go"
	userAgent = "c10k-crawler/0.1.0 (go peer)"
	// sampleEvery is how often the sampler looks at the in-flight count and the memory.
	sampleEvery = 10 * time.Millisecond
)

// Latency holds percentiles of the fetches' latencies, in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Process is what the process used (the harness's ProcessUsage).
type Process struct {
	UserS               float64 `json:"user_s"`
	SysS                float64 `json:"sys_s"`
	MaxRSSKiB           int64   `json:"max_rss_kib"`
	VoluntarySwitches   int64   `json:"voluntary_switches"`
	InvoluntarySwitches int64   `json:"involuntary_switches"`
	SampledInFlight     int64   `json:"sampled_in_flight"`
	RSSKiBAtWidest      int64   `json:"rss_kib_at_widest"`
}

// Report is the JSON report, field for field as `c10k crawl --json` prints it.
type Report struct {
	Strategy     string         `json:"strategy"`
	Root         string         `json:"root"`
	Concurrency  int            `json:"concurrency"`
	PeakInFlight int            `json:"peak_in_flight"`
	URLs         int            `json:"urls"`
	Fetched      int            `json:"fetched"`
	Pages        int            `json:"pages"`
	Errors       int            `json:"errors"`
	Skipped      int            `json:"skipped"`
	Retries      int            `json:"retries"`
	Bytes        uint64         `json:"bytes"`
	ElapsedS     float64        `json:"elapsed_s"`
	PagesPerS    float64        `json:"pages_per_s"`
	StatusCounts map[string]int `json:"status_counts"`
	ErrorCounts  map[string]int `json:"error_counts"`
	LatencyMs    Latency        `json:"latency_ms"`
	WorkDigest   uint64         `json:"work_digest"`
	LoopLagMs    *Latency       `json:"loop_lag_ms"`
	Process      *Process       `json:"process,omitempty"`
}

// usage is a mistake in the arguments: one line on stderr, exit status 2.
type usage string

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	options, root, jsonOut, urlsOut, err := parseArgs(args)
	if err == flag.ErrHelp {
		return 0
	}
	var addr string
	var fdLimit uint64
	if err == nil {
		addr, fdLimit, err = prepare(root, urlsOut)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		return 2
	}
	if budget := fdLimit - 64; uint64(options.Concurrency) > budget {
		fmt.Fprintf(os.Stderr, "warning: concurrency %d needs more descriptors than the "+
			"limit (%d) allows; using %d\n", options.Concurrency, fdLimit, budget)
		options.Concurrency = int(budget)
	}

	crawler := NewCrawler(root, addr, options)
	sampler := startSampler(crawler)
	started := time.Now()
	crawler.Crawl()
	elapsed := time.Since(started)
	widest, rssAtWidest := sampler.stop()

	if urlsOut != "" {
		if err := os.WriteFile(urlsOut, []byte(urlsOutText(crawler)), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "error: writing %s: %v\n", urlsOut, err)
			return 1
		}
	}
	report := makeReport(crawler, elapsed)
	if jsonOut {
		report.Process = processUsage(widest, rssAtWidest)
		text, err := json.MarshalIndent(report, "", "  ")
		if err != nil {
			fmt.Fprintf(os.Stderr, "error: %v\n", err)
			return 1
		}
		fmt.Println(string(text))
	} else {
		fmt.Print(summary(report))
	}
	if r := crawler.records[root.Href]; r == nil || strings.HasPrefix(r.status, "error:") {
		status := "not crawled"
		if r != nil {
			status = r.status
		}
		fmt.Fprintf(os.Stderr, "error: the root %s could not be fetched (%s)\n", root.Href, status)
		return 1
	}
	return 0
}

func (u usage) Error() string { return string(u) }

// parseArgs reads what `c10k crawl` takes that the sweep passes; the root URL may come
// before, between or after the flags.
func parseArgs(args []string) (Options, *URL, bool, string, error) {
	flags := flag.NewFlagSet("go-crawler", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	concurrency := flags.String("concurrency", "100", "fetches in flight at once")
	maxRedirects := flags.String("max-redirects", "10", "redirects one chain may follow")
	maxTries := flags.String("max-tries", "4", "tries per URL for transport failures")
	timeoutMs := flags.String("timeout-ms", "10000", "deadline of one fetch, in ms")
	maxBody := flags.String("max-body", strconv.Itoa(10*1024*1024), "largest body, in bytes")
	jsonOut := flags.Bool("json", false, "print the JSON report instead of a summary")
	urlsOut := flags.String("urls-out", "", "write one sorted STATUS<TAB>URL line per URL")
	var positional []string
	for {
		if err := flags.Parse(args); err != nil {
			if err == flag.ErrHelp {
				flags.SetOutput(os.Stdout)
				fmt.Println("usage: go-crawler URL [flags]")
				flags.PrintDefaults()
			}
			return Options{}, nil, false, "", err
		}
		if flags.NArg() == 0 {
			break
		}
		positional = append(positional, flags.Arg(0))
		args = flags.Args()[1:]
	}
	if len(positional) != 1 {
		return Options{}, nil, false, "",
			usage("expected one root URL, got " + strconv.Itoa(len(positional)))
	}
	var options Options
	numbers := []struct {
		name     string
		text     string
		min, max uint64
		set      func(uint64)
	}{
		{"concurrency", *concurrency, 1, math.MaxInt32,
			func(n uint64) { options.Concurrency = int(n) }},
		{"max-redirects", *maxRedirects, 0, math.MaxUint32,
			func(n uint64) { options.MaxRedirects = int(n) }},
		{"max-tries", *maxTries, 1, math.MaxUint32,
			func(n uint64) { options.MaxTries = int(n) }},
		{"timeout-ms", *timeoutMs, 1, math.MaxInt64 / uint64(time.Millisecond),
			func(n uint64) { options.Timeout = time.Duration(n) * time.Millisecond }},
		{"max-body", *maxBody, 0, math.MaxUint64, func(n uint64) { options.MaxBody = n }},
	}
	for _, number := range numbers {
		value, err := strconv.ParseUint(number.text, 10, 64)
		var problem string
		switch {
		case err != nil && strings.HasPrefix(number.text, "-"):
			problem = fmt.Sprintf("must be at least %d, not %s", number.min, number.text)
		case err != nil:
			problem = fmt.Sprintf("%q is not a whole number", number.text)
		case value < number.min:
			problem = fmt.Sprintf("must be at least %d, not %d", number.min, value)
		case value > number.max:
			problem = fmt.Sprintf("%d is too large", value)
		}
		if problem != "" {
			return Options{}, nil, false, "", usage("--" + number.name + ": " + problem)
		}
		number.set(value)
	}
	root, err := ParseRoot(positional[0])
	if err != nil {
		return Options{}, nil, false, "", usage(err.Error())
	}
	return options, root, *jsonOut, *urlsOut, nil
}

// prepare resolves the root's host once (every fetch connects there: the scope is one
// origin), checks --urls-out can be written, and raises the open-file limit as `c10k crawl`
// does.
func prepare(root *URL, urlsOut string) (string, uint64, error) {
	port := root.Port
	if port < 0 {
		port = 80
	}
	host := strings.Trim(root.Host, "[]")
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return "", 0, usage(fmt.Sprintf("cannot resolve %s: %v", host, err))
	}
	addr := net.JoinHostPort(ips[0].String(), strconv.Itoa(port))
	if urlsOut != "" {
		f, err := os.Create(urlsOut)
		if err != nil {
			return "", 0, usage(fmt.Sprintf("cannot write --urls-out %s: %v", urlsOut, err))
		}
		f.Close()
	}
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		return "", 0, err
	}
	if limit.Cur < limit.Max {
		raised := syscall.Rlimit{Cur: limit.Max, Max: limit.Max}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			limit.Cur = limit.Max
		}
	}
	if limit.Cur <= 64 {
		return "", 0, usage(fmt.Sprintf("the open-file limit (%d) leaves no descriptor for "+
			"connections; raise it (ulimit -n)", limit.Cur))
	}
	return addr, limit.Cur, nil
}

// sampler watches the crawl from a goroutine of its own, as `c10k crawl`'s Watcher thread
// does: every 10 ms the in-flight count, and the resident memory when it is the widest yet.
type sampler struct {
	stopped chan struct{}
	result  chan [2]int64
}

func startSampler(crawler *Crawler) *sampler {
	s := &sampler{stopped: make(chan struct{}), result: make(chan [2]int64, 1)}
	go func() {
		var widest, rssAtWidest int64
		ticker := time.NewTicker(sampleEvery)
		defer ticker.Stop()
		for {
			inFlight := crawler.InFlight()
			if inFlight >= widest {
				rss := currentRSSKiB()
				if inFlight > widest || rss > rssAtWidest {
					rssAtWidest = rss
				}
				widest = inFlight
			}
			select {
			case <-s.stopped:
				s.result <- [2]int64{widest, rssAtWidest}
				return
			case <-ticker.C:
			}
		}
	}()
	return s
}

// stop ends the sampling: the widest in-flight count seen, and the RSS then (KiB).
func (s *sampler) stop() (int64, int64) {
	close(s.stopped)
	result := <-s.result
	return result[0], result[1]
}

func currentRSSKiB() int64 {
	statm, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(statm))
	if len(fields) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(fields[1], 10, 64)
	return pages * int64(os.Getpagesize()) / 1024
}

func processUsage(widest, rssAtWidest int64) *Process {
	var usage syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	seconds := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return &Process{
		UserS:               seconds(usage.Utime),
		SysS:                seconds(usage.Stime),
		MaxRSSKiB:           usage.Maxrss,
		VoluntarySwitches:   usage.Nvcsw,
		InvoluntarySwitches: usage.Nivcsw,
		SampledInFlight:     widest,
		RSSKiBAtWidest:      rssAtWidest,
	}
}

// latencyOf is the percentiles (nearest rank) of samples, in milliseconds.
func latencyOf(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	rank := func(p float64) float64 {
		index := int(math.Ceil(p * float64(len(samples))))
		if index < 1 {
			index = 1
		}
		if index > len(samples) {
			index = len(samples)
		}
		return samples[index-1].Seconds() * 1e3
	}
	return Latency{P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: rank(1.0)}
}

func makeReport(c *Crawler, elapsed time.Duration) *Report {
	report := &Report{Strategy: strategy, Root: c.root.Href, Concurrency: c.options.Concurrency,
		PeakInFlight: c.peak, URLs: len(c.records), ElapsedS: elapsed.Seconds(),
		StatusCounts: map[string]int{}, ErrorCounts: map[string]int{}}
	var latencies []time.Duration
	for _, r := range c.records {
		report.Bytes += r.bytes
		if r.tries > 1 {
			report.Retries += r.tries - 1
		}
		if r.fetched {
			latencies = append(latencies, r.latency)
		}
		if kind := strings.TrimPrefix(r.status, "error:"); kind != r.status {
			if kind == kindSkipped {
				report.Skipped++
			} else {
				report.Errors++
			}
			report.ErrorCounts[kind]++
		} else {
			report.Fetched++
			if r.html {
				report.Pages++
			}
			report.StatusCounts[r.status]++
		}
	}
	if elapsed > 0 {
		report.PagesPerS = float64(report.Fetched) / report.ElapsedS
	}
	report.LatencyMs = latencyOf(latencies)
	return report
}

// urlsOutText is one STATUS<TAB>URL line per URL, sorted by URL.
func urlsOutText(c *Crawler) string {
	urls := make([]string, 0, len(c.records))
	for url := range c.records {
		urls = append(urls, url)
	}
	sort.Strings(urls)
	var b strings.Builder
	for _, url := range urls {
		b.WriteString(c.records[url].status + "\t" + url + "\n")
	}
	return b.String()
}

func summary(r *Report) string {
	counts := func(m map[string]int) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s: %d", k, m[k])
		}
		return strings.Join(parts, ", ")
	}
	text := fmt.Sprintf("%s crawled %s at concurrency %d (%d at most in flight): %d URLs, "+
		"%d responses (%d pages), %d errors, %d skipped, %d retries\n", r.Strategy, r.Root,
		r.Concurrency, r.PeakInFlight, r.URLs, r.Fetched, r.Pages, r.Errors, r.Skipped, r.Retries)
	text += fmt.Sprintf("%.3f s, %.0f responses/s, %d body bytes; latency ms p50 %.1f p90 %.1f "+
		"p99 %.1f max %.1f\n", r.ElapsedS, r.PagesPerS, r.Bytes, r.LatencyMs.P50, r.LatencyMs.P90,
		r.LatencyMs.P99, r.LatencyMs.Max)
	text += "status: " + counts(r.StatusCounts) + "\n"
	if len(r.ErrorCounts) > 0 {
		text += "errors: " + counts(r.ErrorCounts) + "\n"
	}
	return text
}
