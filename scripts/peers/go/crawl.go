// crawl.go mirrors crates/core/src/crawler.rs and the threads strategy
// (crates/threads/src/crawl.rs): a frontier under a mutex, and a pool of workers that each
// fetch one page at a time with blocking calls. Here the workers are goroutines, parked by
// Go's scheduler while their sockets wait, so the same straight-line code that costs an OS
// thread per connection in Rust costs a goroutine.

package main

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The kinds of failure the report counts, in the words of --urls-out (error.rs).
const (
	kindConnect       = "connect"
	kindTimeout       = "timeout"
	kindReset         = "reset"
	kindMalformed     = "malformed"
	kindTooLarge      = "too-large"
	kindTruncated     = "truncated"
	kindEncoding      = "encoding"
	kindRedirectLimit = "redirect-limit"
	kindSkipped       = "skipped"
)

const maxURLLen = 8 * 1024

// FetchError is why a URL ended without an HTTP response: its kind, and a detail.
type FetchError struct {
	Kind   string
	Detail string
}

func (e *FetchError) Error() string { return e.Kind + ": " + e.Detail }

func fetchErr(kind, detail string) *FetchError { return &FetchError{kind, detail} }

// retryable: transport failures are worth another try; a bad response is not.
func (e *FetchError) retryable() bool {
	return e.Kind == kindConnect || e.Kind == kindTimeout || e.Kind == kindReset
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

func connectError(err error) *FetchError {
	if isTimeout(err) {
		return fetchErr(kindTimeout, "timed out")
	}
	return fetchErr(kindConnect, err.Error())
}

func exchangeError(err error) *FetchError {
	var fetchError *FetchError
	if errors.As(err, &fetchError) {
		return fetchError
	}
	if isTimeout(err) {
		return fetchErr(kindTimeout, "timed out")
	}
	return fetchErr(kindReset, err.Error())
}

// Options are the settings of a crawl that the command line takes.
type Options struct {
	Concurrency  int
	MaxRedirects int
	MaxTries     int
	Timeout      time.Duration
	MaxBody      uint64
}

// fetch is one URL handed to a worker.
type fetch struct {
	url     *URL
	tries   int
	started time.Time
}

// page is a response reduced to what the frontier needs.
type page struct {
	status   int
	bytes    uint64
	html     bool
	links    []*URL
	redirect *URL
}

// record is what happened to one URL.
type record struct {
	status  string
	bytes   uint64
	html    bool
	tries   int
	latency time.Duration
	fetched bool
}

// Crawler is the frontier (seen set, queue, in-flight count) and the records of a crawl,
// shared by the workers under its mutex.
type Crawler struct {
	root    *URL
	addr    string
	options Options

	mu sync.Mutex
	// changed is signalled when URLs are queued, and when the crawl is done.
	changed *sync.Cond
	// seen holds every URL met, with the fewest redirects that led to it.
	seen map[string]int
	// redirects holds where each redirect fetched so far pointed, to pass a shorter count on.
	redirects map[string]*URL
	queue     []*fetch
	records   map[string]*record
	inFlight  int
	peak      int
	// sampled is inFlight for the sampler, which reads it without the lock.
	sampled int64
}

// NewCrawler is a crawl of root, whose host listens at addr, with the root queued.
func NewCrawler(root *URL, addr string, options Options) *Crawler {
	c := &Crawler{root: root, addr: addr, options: options, seen: map[string]int{},
		redirects: map[string]*URL{}, records: map[string]*record{}}
	c.changed = sync.NewCond(&c.mu)
	c.enqueue(root, 0)
	return c
}

// Crawl runs the workers until every URL queued has been fetched.
func (c *Crawler) Crawl() {
	var workers sync.WaitGroup
	for i := 0; i < c.options.Concurrency; i++ {
		workers.Add(1)
		go func() {
			defer workers.Done()
			c.worker()
		}()
	}
	workers.Wait()
}

// worker fetches pages until the crawl is done.
func (c *Crawler) worker() {
	for {
		f := c.nextFetch()
		if f == nil {
			return
		}
		response, err := c.fetchPage(f.url)
		latency := time.Since(f.started)
		var p *page
		if err == nil {
			p = finish(f.url, response)
		}
		c.complete(f, p, err, latency)
	}
}

// nextFetch takes the next URL, waiting while the queue is empty but fetches are in flight;
// nil once the crawl is done.
func (c *Crawler) nextFetch() *fetch {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if len(c.queue) == 0 && c.inFlight == 0 {
			return nil
		}
		if len(c.queue) > 0 {
			f := c.queue[0]
			c.queue[0] = nil
			c.queue = c.queue[1:]
			f.started = time.Now()
			c.inFlight++
			if c.inFlight > c.peak {
				c.peak = c.inFlight
			}
			atomic.StoreInt64(&c.sampled, int64(c.inFlight))
			return f
		}
		c.changed.Wait()
	}
}

// fetchPage connects, sends the request and reads until the response is complete, blocking
// all along, within one deadline for the whole fetch.
func (c *Crawler) fetchPage(u *URL) (*Response, error) {
	deadline := time.Now().Add(c.options.Timeout)
	conn, err := net.DialTimeout("tcp", c.addr, c.options.Timeout)
	if err != nil {
		return nil, connectError(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, exchangeError(err)
	}
	if _, err := conn.Write(request(u)); err != nil {
		return nil, exchangeError(err)
	}
	response, err := ReadResponse(conn, c.options.MaxBody)
	if err != nil {
		return nil, exchangeError(err)
	}
	return response, nil
}

// request is an HTTP/1.0 GET for u, asking the server to close the connection after it.
func request(u *URL) []byte {
	host := u.Host
	if u.Port >= 0 {
		host += ":" + strconv.Itoa(u.Port)
	}
	return []byte("GET " + u.Target() + " HTTP/1.0\r\nHost: " + host + "\r\nUser-Agent: " +
		userAgent + "\r\nAccept: text/html, */*;q=0.5\r\nAccept-Encoding: identity\r\n" +
		"Connection: close\r\n\r\n")
}

func isRedirect(status int) bool {
	return status == 301 || status == 302 || status == 303 || status == 307 || status == 308
}

// finish turns a response into a page: parses the links of an HTML page, resolves a
// redirect. It touches no shared state, so it runs outside the lock.
func finish(u *URL, response *Response) *page {
	p := &page{status: response.Status, bytes: response.BodyLen}
	if isRedirect(response.Status) {
		if response.HasLocation {
			// The reader left the Location all ASCII: its raw bytes are percent-encoded as
			// they came, UTF-8 or not.
			p.redirect = ParseURL(response.Location, u, utf8Enc)
		}
	} else if response.Status >= 200 && response.Status < 300 && response.IsHTML() {
		p.html = true
		text, enc := DecodePage(response.Body, response.ContentType)
		links := ExtractLinks(text)
		base := u
		if links.HasBase {
			if resolved := ParseURL(links.Base, u, enc); resolved != nil {
				base = resolved
			}
		}
		for _, href := range links.Hrefs {
			if link := ParseURL(href, base, enc); link != nil {
				p.links = append(p.links, link)
			}
		}
	}
	return p
}

// complete records what a fetch ended with, queues what it found (or the fetch itself
// again, for a transport failure with tries left), and wakes as many workers as URLs were
// queued (all, once the crawl is done).
func (c *Crawler) complete(f *fetch, p *page, err error, latency time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inFlight--
	atomic.StoreInt64(&c.sampled, int64(c.inFlight))
	queuedBefore := len(c.queue)
	if err != nil {
		fetchError := exchangeError(err)
		if fetchError.retryable() && f.tries < c.options.MaxTries {
			f.tries++
			// To the front: a retry should not wait behind the whole frontier.
			c.queue = append([]*fetch{f}, c.queue...)
		} else {
			c.records[f.url.Href] = &record{status: "error:" + fetchError.Kind, tries: f.tries,
				latency: latency, fetched: true}
		}
	} else {
		for _, link := range p.links {
			c.enqueue(link, 0)
		}
		if p.redirect != nil {
			redirects := c.seen[f.url.Href] + 1
			c.redirects[f.url.Href] = p.redirect
			c.enqueue(p.redirect, redirects)
		}
		c.records[f.url.Href] = &record{status: strconv.Itoa(p.status), bytes: p.bytes,
			html: p.html, tries: f.tries, latency: latency, fetched: true}
	}
	if len(c.queue) == 0 && c.inFlight == 0 {
		c.changed.Broadcast()
	} else {
		for i := queuedBefore; i < len(c.queue); i++ {
			c.changed.Signal()
		}
	}
}

// enqueue marks u seen, reached through redirects redirects; queues it if it is in scope,
// records why not otherwise.
func (c *Crawler) enqueue(u *URL, redirects int) {
	if fewest, seen := c.seen[u.Href]; seen {
		if redirects < fewest {
			c.seen[u.Href] = redirects
			c.reachedSooner(u, fewest, redirects)
		}
		return
	}
	c.seen[u.Href] = redirects
	switch {
	case u.Scheme != "http" || !u.SameOrigin(c.root):
		c.records[u.Href] = &record{status: "error:" + kindSkipped}
	case redirects > c.options.MaxRedirects:
		c.records[u.Href] = &record{status: "error:" + kindRedirectLimit}
	case len(u.Href) > maxURLLen:
		c.records[u.Href] = &record{status: "error:" + kindTooLarge}
	default:
		c.queue = append(c.queue, &fetch{url: u, tries: 1})
	}
}

// reachedSooner: u, seen before through `before` redirects, is now reached through fewer.
// One refused for its chain is fetched after all; a redirect already fetched passes the count
// on to its target.
func (c *Crawler) reachedSooner(u *URL, before, redirects int) {
	limit := c.options.MaxRedirects
	if before > limit && redirects <= limit {
		if r, ok := c.records[u.Href]; ok && r.status == "error:"+kindRedirectLimit {
			delete(c.records, u.Href)
			c.queue = append(c.queue, &fetch{url: u, tries: 1})
		}
	} else if target, ok := c.redirects[u.Href]; ok {
		c.enqueue(target, redirects+1)
	}
}

// InFlight is the number of fetches in flight now, for the sampler.
func (c *Crawler) InFlight() int64 { return atomic.LoadInt64(&c.sampled) }
