// response.go mirrors crates/core/src/response.rs and decode.rs: one HTTP/1.x response read
// from a connection 4096 bytes at a time, within the limits.
//
// The head is parsed again as each piece arrives, as httparse does, so a malformed head is
// found as soon as its bad byte is in. The body is unframed (Content-Length, chunked, or the
// close), counted against --max-body as it arrives, and, for a page whose links are followed,
// decoded from gzip or deflate by Go's readers, its decoded bytes counted too. Go's decoders
// pull where the core's are pushed; on random responses the two agree but for one case: two
// codings stacked, with both a decoding error and --max-body near, may end with the other of
// the two errors.

package main

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
)

// asciiSpace is what Rust's trim_ascii trims.
const asciiSpace = " \t\n\f\r"

const (
	chunkSize  = 4096
	maxHead    = 64 * 1024
	maxHeaders = 100
)

// Response is a complete response, as the crawl needs it.
type Response struct {
	Status      int
	ContentType string
	HasType     bool
	Location    string
	HasLocation bool
	// Body is kept only for 2xx HTML; BodyLen counts it (decoded if kept) either way.
	Body    []byte
	BodyLen uint64
}

// IsHTML tells whether the body is HTML, or XHTML (which an HTML tokenizer reads well enough
// for links).
func (r *Response) IsHTML() bool {
	if !r.HasType {
		return false
	}
	media := r.ContentType
	if at := strings.IndexByte(media, ';'); at >= 0 {
		media = media[:at]
	}
	media = asciiLower(strings.TrimSpace(media))
	return media == "text/html" || media == "application/xhtml+xml"
}

// header is one header line: its name in lowercase, its value.
type header struct {
	name  string
	value []byte
}

// source is the connection being read: the bytes read and not yet used, and more on demand.
type source struct {
	r       io.Reader
	pending []byte
	buf     []byte
}

// more reads the next piece of the connection into pending; false at its end.
func (s *source) more() (bool, error) {
	if s.buf == nil {
		s.buf = make([]byte, chunkSize)
	}
	for {
		n, err := s.r.Read(s.buf)
		if n > 0 {
			s.pending = append(s.pending, s.buf[:n]...)
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			// Classified here, so that it passes through the decoders as what it is.
			return false, exchangeError(err)
		}
	}
}

// ReadResponse reads one response from r within the limits.
func ReadResponse(r io.Reader, maxBody uint64) (*Response, error) {
	src := &source{r: r}
	interim := false
	var status, length int
	var headers []header
	for {
		var complete bool
		var err error
		length, status, headers, complete, err = parseHead(src.pending)
		if err != nil {
			return nil, err
		}
		if !complete {
			more, err := src.more()
			if err != nil {
				return nil, err
			}
			if !more {
				if len(src.pending) == 0 && !interim {
					return nil, fetchErr(kindReset, "connection closed before any response")
				}
				// After an interim response the server did answer: not worth another try.
				return nil, fetchErr(kindTruncated, "response head")
			}
			continue
		}
		if status >= 100 && status < 200 && status != 101 {
			// An interim response (100 Continue): the real head follows.
			src.pending = src.pending[length:]
			interim = true
			continue
		}
		break
	}
	src.pending = src.pending[length:]
	response, body, codings, err := startBody(status, headers, maxBody)
	if err != nil {
		return nil, err
	}
	body.src = src
	// Only a page whose links are followed is kept, and so decoded.
	if status >= 200 && status < 300 && response.IsHTML() {
		response.Body, response.BodyLen, err = readDecoded(body, codings, maxBody)
	} else {
		var n int64
		n, err = io.Copy(io.Discard, body)
		response.BodyLen = uint64(n)
	}
	if err != nil {
		return nil, err
	}
	return response, nil
}

// parseHead parses the head at the start of data: its length, status and headers once
// complete; an error as soon as it is malformed or too large.
func parseHead(data []byte) (int, int, []header, bool, error) {
	bad := fetchErr(kindMalformed, "invalid response head")
	partial := func() (int, int, []header, bool, error) {
		if len(data) > maxHead {
			return 0, 0, nil, false, fetchErr(kindTooLarge, "response head")
		}
		return 0, 0, nil, false, nil
	}
	pos, n := 0, len(data)
	// Empty lines before the status line are skipped.
	for {
		next, empty, err := emptyLine(data, pos)
		if err != nil {
			return 0, 0, nil, false, err
		}
		if next < 0 {
			return partial()
		}
		if !empty {
			break
		}
		pos = next
	}
	lineEnd := bytes.IndexByte(data[pos:], '\n')
	if lineEnd < 0 {
		if _, ok := statusLine(data[pos:], true); !ok {
			return 0, 0, nil, false, bad
		}
		return partial()
	}
	status, ok := statusLine(data[pos:pos+lineEnd+1], false)
	if !ok {
		return 0, 0, nil, false, bad
	}
	pos += lineEnd + 1
	var headers []header
	for {
		next, empty, err := emptyLine(data, pos)
		if err != nil {
			return 0, 0, nil, false, err
		}
		if next < 0 {
			return partial()
		}
		if empty {
			if next > maxHead {
				return 0, 0, nil, false, fetchErr(kindTooLarge, "response head")
			}
			return next, status, headers, true, nil
		}
		// One header, with the lines folded into it (obsolete line folding).
		start := pos
		for {
			lineEnd := bytes.IndexByte(data[pos:], '\n')
			first := pos == start
			if lineEnd < 0 {
				if !headerLine(data[pos:], first, true) {
					return 0, 0, nil, false, bad
				}
				return partial()
			}
			if !headerLine(data[pos:pos+lineEnd+1], first, false) {
				return 0, 0, nil, false, bad
			}
			pos += lineEnd + 1
			if pos >= n {
				return partial()
			}
			if data[pos] != ' ' && data[pos] != '\t' {
				break
			}
		}
		if len(headers) == maxHeaders {
			return 0, 0, nil, false, fetchErr(kindTooLarge, "header count")
		}
		colon := start + bytes.IndexByte(data[start:pos], ':')
		name := strings.TrimRight(string(data[start:colon]), " \t")
		value := bytes.Trim(data[colon+1:pos], " \t\r\n")
		headers = append(headers, header{asciiLower(name), value})
	}
}

// emptyLine tells whether an empty line ("\n" or "\r\n") starts at pos, and where the line
// after it starts; next is -1 while that cannot be told yet (the data ends first).
func emptyLine(data []byte, pos int) (next int, empty bool, err error) {
	switch {
	case pos >= len(data):
		return -1, false, nil
	case data[pos] == '\n':
		return pos + 1, true, nil
	case data[pos] != '\r':
		return pos, false, nil
	case pos+1 >= len(data):
		return -1, false, nil
	case data[pos+1] != '\n':
		return 0, false, fetchErr(kindMalformed, "invalid response head")
	}
	return pos + 2, true, nil
}

func isToken(c byte) bool {
	return isASCIIAlpha(c) || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isValue(c byte) bool { return c == '\t' || c >= 0x20 && c <= 0x7e || c >= 0x80 }

// lineEnd tells whether rest is a line's end: "\n" or "\r\n" (in a partial line: "" or "\r").
func lineEndOK(rest []byte, partial bool) bool {
	if partial {
		return len(rest) == 0 || len(rest) == 1 && rest[0] == '\r'
	}
	return string(rest) == "\n" || string(rest) == "\r\n"
}

// statusLine checks `HTTP/1.x SP+ CODE [SP+ REASON] CRLF` (or, partial, a beginning of it).
func statusLine(line []byte, partial bool) (int, bool) {
	const version = "HTTP/1."
	if len(line) < len(version)+1 {
		return 0, partial && strings.HasPrefix(version, string(line))
	}
	if string(line[:len(version)]) != version || line[7] != '0' && line[7] != '1' {
		return 0, false
	}
	i := 8
	if i == len(line) {
		return 0, partial
	}
	if line[i] != ' ' {
		return 0, false
	}
	for i < len(line) && line[i] == ' ' {
		i++
	}
	code := 0
	for d := 0; d < 3; d++ {
		if i == len(line) {
			return 0, partial
		}
		if line[i] < '0' || line[i] > '9' {
			return 0, false
		}
		code = code*10 + int(line[i]-'0')
		i++
	}
	if i < len(line) && line[i] == ' ' {
		for i < len(line) && isValue(line[i]) {
			i++
		}
	}
	return code, lineEndOK(line[i:], partial)
}

// headerLine checks `NAME [SP|HT]* : VALUE CRLF`, or a folded line `SP|HT VALUE CRLF` (or,
// partial, a beginning of one).
func headerLine(line []byte, first, partial bool) bool {
	i := 0
	if first {
		for i < len(line) && isToken(line[i]) {
			i++
		}
		if i == 0 && !(partial && i == len(line)) {
			return false
		}
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			return partial
		}
		if line[i] != ':' {
			return false
		}
	} else if line[0] != ' ' && line[0] != '\t' {
		return false
	}
	i++
	for i < len(line) && isValue(line[i]) {
		i++
	}
	return lineEndOK(line[i:], partial)
}

// headerList is the elements of a comma-separated header list, trimmed, empty ones dropped.
func headerList(value []byte) []string {
	var list []string
	for _, element := range bytes.Split(value, []byte(",")) {
		if element = bytes.Trim(element, asciiSpace); len(element) > 0 {
			list = append(list, string(element))
		}
	}
	return list
}

func contentLength(value []byte) (uint64, error) {
	var length uint64
	seen := false
	for _, element := range headerList(value) {
		if strings.Trim(element, "0123456789") != "" {
			return 0, fetchErr(kindMalformed, "invalid Content-Length")
		}
		number, err := strconv.ParseUint(element, 10, 64)
		if err != nil {
			number = math.MaxUint64
		}
		if seen && number != length {
			return 0, fetchErr(kindMalformed, "conflicting Content-Length")
		}
		length, seen = number, true
	}
	if !seen {
		return 0, fetchErr(kindMalformed, "invalid Content-Length")
	}
	return length, nil
}

// startBody reads what the head says about the body: the response so far, the framing of
// the body, and the codings to undo, in the order they were applied.
func startBody(status int, headers []header, maxBody uint64) (
	*Response, *bodyReader, []string, error) {
	response := &Response{Status: status}
	var length uint64
	hasLength := false
	var codings, transferCodings []string
	for _, h := range headers {
		switch h.name {
		case "content-type":
			response.ContentType = strings.TrimSpace(decodeUTF8(h.value))
			response.HasType = true
		case "location":
			response.Location = percentEncode(bytes.Trim(h.value, asciiSpace), controlsKeeps)
			response.HasLocation = true
		case "transfer-encoding":
			transferCodings = append(transferCodings, headerList(h.value)...)
		case "content-encoding":
			codings = append(codings, headerList(h.value)...)
		case "content-length":
			l, err := contentLength(h.value)
			if err != nil {
				return nil, nil, nil, err
			}
			if hasLength && l != length {
				return nil, nil, nil, fetchErr(kindMalformed, "conflicting Content-Length")
			}
			length, hasLength = l, true
		}
	}
	body := &bodyReader{framing: untilEOF, maxBody: maxBody, maxHead: maxHead}
	switch {
	case status == 204 || status == 304:
		body.framing = done
	case len(transferCodings) > 0:
		// Transfer-Encoding overrides Content-Length, and only its last coding says whether
		// the body is chunked; otherwise the close delimits it.
		if asciiLower(transferCodings[len(transferCodings)-1]) == "chunked" {
			transferCodings = transferCodings[:len(transferCodings)-1]
			body.framing = chunked
		}
	case hasLength:
		if length > maxBody {
			return nil, nil, nil, fetchErr(kindTooLarge, "body")
		}
		body.framing, body.left = byLength, length
		if length == 0 {
			body.framing = done
		}
	}
	return response, body, lowerAll(append(codings, transferCodings...)), nil
}

func lowerAll(list []string) []string {
	for i, s := range list {
		list[i] = asciiLower(s)
	}
	return list
}

// The framings of a body.
const (
	done = iota
	byLength
	chunked
	untilEOF
)

// The states of the chunked framing, read byte by byte as the core reads it.
const (
	chunkSizeDigits = iota
	chunkSizeRest
	chunkData
	chunkDataEnd
	chunkTrailer
)

// bodyReader unframes a body as it arrives. Each piece read from the connection is unframed
// whole, its body bytes counted against --max-body as they come (coded bytes too, so a coded
// stream that decodes to little cannot run on forever), as the core's reader takes each piece
// it is fed: what a piece holds (body bytes, then maybe an error) is handed on in that order.
type bodyReader struct {
	src     *source
	framing int
	maxBody uint64
	maxHead int
	// runs are the body bytes unframed and not yet read; failure, what comes after them.
	runs    [][]byte
	failure error
	// left: bytes due (Content-Length, or of the current chunk).
	left     uint64
	codedLen uint64
	// The chunked framing's state.
	state, line, trailerLen, trailerTotal int
	size                                  uint64
	cr                                    bool
}

// Read gives the next body bytes; io.EOF at the body's end.
func (b *bodyReader) Read(p []byte) (int, error) {
	for len(b.runs) == 0 {
		if b.failure != nil {
			return 0, b.failure
		}
		if b.framing == done {
			return 0, io.EOF
		}
		if len(b.src.pending) == 0 {
			more, err := b.src.more()
			switch {
			case err != nil:
				b.failure = err
			case !more && b.framing == byLength:
				b.failure = fetchErr(kindTruncated, "body shorter than Content-Length")
			case !more && b.framing == chunked:
				b.failure = fetchErr(kindTruncated, "chunked body")
			case !more:
				b.framing = done
			}
			continue
		}
		piece := b.src.pending
		b.src.pending = nil
		b.failure = b.unframe(piece)
	}
	n := copy(p, b.runs[0])
	if b.runs[0] = b.runs[0][n:]; len(b.runs[0]) == 0 {
		b.runs = b.runs[1:]
	}
	return n, nil
}

// ReadByte lets Go's decompressors read without reading ahead of the compressed stream.
func (b *bodyReader) ReadByte() (byte, error) { return readByte(b) }

// take queues the body bytes of data, within --max-body.
func (b *bodyReader) take(data []byte) error {
	b.codedLen += uint64(len(data))
	if b.codedLen > b.maxBody {
		return fetchErr(kindTooLarge, "body")
	}
	if len(data) > 0 {
		b.runs = append(b.runs, data)
	}
	return nil
}

// unframe takes the body bytes of one piece read from the connection (bytes after the end of
// the body are ignored); the error ends the body.
func (b *bodyReader) unframe(piece []byte) error {
	switch b.framing {
	case untilEOF:
		return b.take(piece)
	case byLength:
		n := uint64(len(piece))
		if n > b.left {
			n = b.left
		}
		b.left -= n
		if b.left == 0 {
			b.framing = done
		}
		return b.take(piece[:n])
	}
	for len(piece) > 0 && b.framing == chunked {
		if b.state == chunkData {
			n := uint64(len(piece))
			if n > b.left {
				n = b.left
			}
			if err := b.take(piece[:n]); err != nil {
				return err
			}
			piece = piece[n:]
			if b.left -= n; b.left == 0 {
				b.state, b.cr = chunkDataEnd, false
			}
			continue
		}
		if err := b.chunkFraming(piece[0]); err != nil {
			return err
		}
		piece = piece[1:]
	}
	return nil
}

// chunkFraming reads one byte of chunked framing (sizes, line ends, trailers), as the core
// does.
func (b *bodyReader) chunkFraming(c byte) error {
	bad := fetchErr(kindMalformed, "invalid chunked encoding")
	switch b.state {
	case chunkSizeDigits, chunkSizeRest:
		if b.line >= b.maxHead {
			return fetchErr(kindTooLarge, "response head")
		}
		switch {
		case b.state == chunkSizeDigits && isHex(c):
			b.size = b.size*16 + uint64(hexValue(c))
			if b.size > b.maxBody {
				return fetchErr(kindTooLarge, "body")
			}
			b.line++
		case b.state == chunkSizeDigits && b.line == 0:
			return bad
		case c == '\n':
			switch {
			case b.size == 0:
				b.state, b.trailerLen, b.trailerTotal = chunkTrailer, 0, 0
			case b.codedLen+b.size > b.maxBody:
				return fetchErr(kindTooLarge, "body")
			default:
				b.state, b.left = chunkData, b.size
			}
		case b.state == chunkSizeDigits && c != '\r' && c != ';' && c != ' ' && c != '\t':
			return bad
		default:
			b.state = chunkSizeRest
			b.line++
		}
	case chunkDataEnd:
		switch {
		case c == '\r' && !b.cr:
			b.cr = true
		case c == '\n':
			b.state, b.size, b.line = chunkSizeDigits, 0, 0
		default:
			return bad
		}
	case chunkTrailer:
		if b.trailerLen == 0 && c == '\n' {
			b.framing = done
			return nil
		}
		if b.trailerTotal >= b.maxHead {
			return fetchErr(kindTooLarge, "response head")
		}
		b.trailerTotal++
		if c == '\n' {
			b.trailerLen = 0
		} else if c != '\r' {
			b.trailerLen++
		}
	}
	return nil
}

// readDecoded reads a page's body through the decoders of its codings (the last applied is
// undone first), keeping at most maxBody decoded bytes.
func readDecoded(body *bodyReader, codings []string, maxBody uint64) ([]byte, uint64, error) {
	var r io.Reader = body
	var streams []*endOfStream
	for _, coding := range codings {
		switch coding {
		case "identity":
			continue
		case "gzip", "x-gzip", "deflate":
		case "chunked":
			return nil, 0, fetchErr(kindEncoding, "chunked is not the last transfer coding")
		default:
			return nil, 0, fetchErr(kindEncoding, "unsupported coding "+coding)
		}
		stream := &endOfStream{coded: r, gzip: coding != "deflate"}
		streams = append(streams, stream)
		r = stream
	}
	var out bytes.Buffer
	buf := make([]byte, chunkSize)
	for {
		n, err := r.Read(buf)
		if uint64(out.Len()+n) > maxBody {
			return nil, 0, fetchErr(kindTooLarge, "body")
		}
		out.Write(buf[:n])
		if err == io.EOF {
			return out.Bytes(), uint64(out.Len()), nil
		}
		if err != nil {
			var fetchError *FetchError
			if errors.As(err, &fetchError) {
				return nil, 0, err
			}
			return nil, 0, fetchErr(kindEncoding, "undecodable body: "+err.Error())
		}
	}
}

// endOfStream decodes one coding of a body: gzip (members may follow one another) or
// deflate (a zlib stream, or raw deflate as some servers send it, told apart by the first two
// bytes). A body with no bytes at all decodes to nothing; bytes after a deflate stream's end
// are an error, as in the core.
type endOfStream struct {
	coded   io.Reader
	gzip    bool
	decoder io.Reader
	started bool
}

func (e *endOfStream) Read(p []byte) (int, error) {
	if !e.started {
		e.started = true
		coded := &peeker{r: e.coded}
		first, err := coded.peek(2)
		if err != nil {
			return 0, err
		}
		switch {
		case len(first) == 0:
			e.decoder = bytes.NewReader(nil)
		case e.gzip:
			reader, err := gzip.NewReader(coded)
			if err != nil {
				return 0, err
			}
			e.decoder = reader
		case len(first) < 2:
			return 0, fetchErr(kindEncoding, "compressed stream cut short")
		case first[0]&0x0F == 8 && first[0]>>4 <= 7 && (uint16(first[0])<<8|uint16(first[1]))%31 == 0:
			// A zlib header: method 8, a window of at most 32 KiB, a multiple of 31.
			reader, err := zlib.NewReader(coded)
			if err != nil {
				return 0, err
			}
			e.decoder = reader
		default:
			e.decoder = flate.NewReader(coded)
		}
		e.coded = coded
	}
	n, err := e.decoder.Read(p)
	if err == io.EOF && !e.gzip {
		if _, more := e.coded.(*peeker).ReadByte(); more == nil {
			return n, fetchErr(kindEncoding, "data after the end of the deflate stream")
		} else if more != io.EOF {
			return n, more
		}
	}
	if err == io.ErrUnexpectedEOF {
		err = fetchErr(kindEncoding, "compressed stream cut short")
	}
	return n, err
}

// peeker lets the first bytes of a stream be looked at before a decoder reads them.
type peeker struct {
	r    io.Reader
	head []byte
}

// peek returns up to n bytes (fewer only at the end of the stream) without consuming them.
func (p *peeker) peek(n int) ([]byte, error) {
	var one [1]byte
	for len(p.head) < n {
		m, err := p.r.Read(one[:])
		p.head = append(p.head, one[:m]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return p.head, nil
}

func (p *peeker) Read(b []byte) (int, error) {
	if len(p.head) > 0 {
		n := copy(b, p.head)
		p.head = p.head[n:]
		return n, nil
	}
	return p.r.Read(b)
}

func (p *peeker) ReadByte() (byte, error) { return readByte(p) }

// readByte reads one byte from r.
func readByte(r io.Reader) (byte, error) {
	var one [1]byte
	for {
		n, err := r.Read(one[:])
		if n == 1 {
			return one[0], nil
		}
		if err != nil {
			return 0, err
		}
	}
}
