// urls.go mirrors crates/core/src/urls.rs: one URL per resource. The WHATWG URL parser (as
// the `url` crate implements it) for the schemes a crawl meets, then the core's normal form:
// no fragment, no user info, and percent-encoding normalised as RFC 3986 section 6.2.2 says.
//
// Where it is approximate: a host with non-ASCII characters is lowercased and put in Punycode
// without the rest of UTS 46, and file: URLs (never fetched, only recorded as skipped) are
// serialised roughly.

package main

import (
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// specialPorts holds the special schemes and their default ports (-1: none).
var specialPorts = map[string]int{
	"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21, "file": -1,
}

// URL is a parsed URL. Path holds the segments, or Opaque the whole path of a URL like
// mailto:x; Port is -1 when none is written (or it is the default).
type URL struct {
	Scheme   string
	Host     string
	HasHost  bool
	Port     int
	Path     []string
	Opaque   string
	IsOpaque bool
	Query    string
	HasQuery bool
	// Href is the serialisation, the URL's identity everywhere in the crawl.
	Href string
	// targetAt is where the request target (path and query) starts in Href.
	targetAt int
}

var errNotURL = errors.New("not a URL")

func newURL(u URL) *URL {
	var b strings.Builder
	b.WriteString(u.Scheme)
	b.WriteByte(':')
	if u.HasHost {
		b.WriteString("//")
		b.WriteString(u.Host)
		if u.Port >= 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(u.Port))
		}
	}
	u.targetAt = b.Len()
	if u.IsOpaque {
		b.WriteString(u.Opaque)
	} else {
		if !u.HasHost && len(u.Path) > 1 && u.Path[0] == "" {
			b.WriteString("/.")
		}
		for _, segment := range u.Path {
			b.WriteByte('/')
			b.WriteString(segment)
		}
	}
	if u.HasQuery {
		b.WriteByte('?')
		b.WriteString(u.Query)
	}
	u.Href = b.String()
	return &u
}

// Target is what the request line asks for: the path and the query.
func (u *URL) Target() string { return u.Href[u.targetAt:] }

// SameOrigin tells whether two URLs have the same scheme, host and port.
func (u *URL) SameOrigin(other *URL) bool {
	port := func(u *URL) int {
		if u.Port >= 0 {
			return u.Port
		}
		return specialPorts[u.Scheme]
	}
	return u.Scheme == other.Scheme && u.Host == other.Host && u.HasHost == other.HasHost &&
		port(u) == port(other)
}

// ParseURL resolves text against base (nil: text must be absolute) and normalises it; nil when
// it is not a URL. A query is encoded in enc (the page's encoding), paths always in UTF-8.
func ParseURL(text string, base *URL, enc *Encoding) *URL {
	text = strings.TrimFunc(text, func(r rune) bool { return r <= 0x20 })
	if strings.ContainsAny(text, "\t\n\r") {
		text = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(text)
	}
	// A fragment is never kept, and nothing before it can contain a '#'; the first '?' after
	// that starts the query (scheme, host and path cannot contain one either).
	hadFragment := false
	if at := strings.IndexByte(text, '#'); at >= 0 {
		text, hadFragment = text[:at], true
	}
	query, hasQuery := "", false
	if at := strings.IndexByte(text, '?'); at >= 0 {
		text, query, hasQuery = text[:at], text[at+1:], true
	}
	q := queryPart{query, hasQuery, enc}
	var u *URL
	var err error
	if scheme, rest, ok := splitScheme(text); ok {
		_, special := specialPorts[scheme]
		switch {
		case scheme == "file":
			u, err = parseFile(rest, q)
		case special:
			slashes := countSlashes(rest)
			if base != nil && slashes < 2 && base.Scheme == scheme {
				u, err = parseRelative(rest, q, base)
			} else {
				u, err = parseAuthority(scheme, rest[slashes:], q)
			}
		case strings.HasPrefix(rest, "//"):
			u, err = parseAuthority(scheme, rest[2:], q)
		case strings.HasPrefix(rest, "/"):
			u = newURL(URL{Scheme: scheme, Port: -1, Path: parsePath(nil, rest[1:], false),
				Query: q.encode(scheme), HasQuery: hasQuery})
		default:
			u = parseOpaque(scheme, rest, q, hadFragment)
		}
	} else if base == nil || base.IsOpaque {
		return nil
	} else {
		u, err = parseRelative(text, q, base)
	}
	if err != nil {
		return nil
	}
	return normalise(u)
}

// queryPart is the query of the text being parsed, and the encoding of its page.
type queryPart struct {
	text string
	has  bool
	enc  *Encoding
}

// encode percent-encodes the query; only these schemes take the page's encoding for it.
func (q queryPart) encode(scheme string) string {
	if !q.has {
		return ""
	}
	data := []byte(q.text)
	switch scheme {
	case "http", "https", "file", "ftp":
		if q.enc != nil && !q.enc.UTF8URLs {
			data = q.enc.Encode(q.text)
		}
	}
	if _, special := specialPorts[scheme]; special {
		return percentEncode(data, specialQueryKeeps)
	}
	return percentEncode(data, queryKeeps)
}

func splitScheme(text string) (string, string, bool) {
	if text == "" || !isASCIIAlpha(text[0]) {
		return "", "", false
	}
	for i := 1; i < len(text); i++ {
		c := text[i]
		switch {
		case c == ':':
			return strings.ToLower(text[:i]), text[i+1:], true
		case isASCIIAlpha(c) || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.':
		default:
			return "", "", false
		}
	}
	return "", "", false
}

func countSlashes(text string) int {
	n := 0
	for n < len(text) && (text[n] == '/' || text[n] == '\\') {
		n++
	}
	return n
}

func parseRelative(text string, q queryPart, base *URL) (*URL, error) {
	_, special := specialPorts[base.Scheme]
	next := URL{Scheme: base.Scheme, Host: base.Host, HasHost: base.HasHost, Port: base.Port,
		Query: base.Query, HasQuery: base.HasQuery}
	if text == "" {
		next.Path = append([]string(nil), base.Path...)
		if q.has {
			next.Query, next.HasQuery = q.encode(base.Scheme), true
		}
		return newURL(next), nil
	}
	if text[0] == '/' || text[0] == '\\' {
		if slashes := countSlashes(text); slashes >= 2 {
			rest := text[slashes:]
			if strings.HasPrefix(text, "//") {
				rest = text[2:]
			}
			return parseAuthority(base.Scheme, rest, q)
		}
		next.Path = parsePath(nil, text[1:], special)
	} else {
		kept := base.Path
		if len(kept) > 0 {
			kept = kept[:len(kept)-1]
		}
		next.Path = parsePath(append([]string(nil), kept...), text, special)
	}
	next.Query, next.HasQuery = q.encode(base.Scheme), q.has
	return newURL(next), nil
}

func parseAuthority(scheme, text string, q queryPart) (*URL, error) {
	_, special := specialPorts[scheme]
	end := strings.IndexByte(text, '/')
	if special {
		if at := strings.IndexByte(text, '\\'); at >= 0 && (end < 0 || at < end) {
			end = at
		}
	}
	if end < 0 {
		end = len(text)
	}
	authority, rest := text[:end], text[end:]
	at := strings.LastIndexByte(authority, '@')
	hostPort := authority[at+1:]
	if at >= 0 && hostPort == "" && (special || at > 0 || rest != "" || q.has) {
		return nil, errNotURL
	}
	// The first ':' outside brackets ends the host.
	colon, bracket := -1, false
	for i := 0; i < len(hostPort) && colon < 0; i++ {
		switch hostPort[i] {
		case '[':
			bracket = true
		case ']':
			bracket = false
		case ':':
			if !bracket {
				colon = i
			}
		}
	}
	hostText := hostPort
	if colon >= 0 {
		hostText = hostPort[:colon]
	}
	if hostText == "" && (special || colon >= 0) {
		return nil, errNotURL
	}
	host, err := parseHost(hostText, special)
	if err != nil {
		return nil, err
	}
	port := -1
	if colon >= 0 && colon+1 < len(hostPort) {
		digits := hostPort[colon+1:]
		value := 0
		for i := 0; i < len(digits); i++ {
			if digits[i] < '0' || digits[i] > '9' {
				return nil, errNotURL
			}
			value = value*10 + int(digits[i]-'0')
			if value > 65535 {
				return nil, errNotURL
			}
		}
		port = value
		if port == specialPorts[scheme] {
			port = -1
		}
	}
	u := URL{Scheme: scheme, Host: host, HasHost: true, Port: port,
		Query: q.encode(scheme), HasQuery: q.has}
	switch {
	case special && rest == "":
		u.Path = parsePath(nil, "", true)
	case special:
		u.Path = parsePath(nil, rest[1:], true)
	case rest != "":
		u.Path = parsePath(nil, rest[1:], false)
	}
	return newURL(u), nil
}

// parseFile is approximate: file: URLs are never fetched (another scheme), only recorded.
func parseFile(text string, q queryPart) (*URL, error) {
	host := ""
	if strings.HasPrefix(text, "//") || strings.HasPrefix(text, `\\`) {
		text = text[2:]
		end := strings.IndexAny(text, `/\`)
		if end < 0 {
			end = len(text)
		}
		if end > 0 {
			h, err := parseHost(text[:end], true)
			if err != nil {
				return nil, err
			}
			if h != "localhost" {
				host = h
			}
		}
		text = text[end:]
	}
	text = strings.TrimLeft(text, `/\`)
	return newURL(URL{Scheme: "file", HasHost: true, Host: host, Port: -1,
		Path: parsePath(nil, text, true), Query: q.encode("file"), HasQuery: q.has}), nil
}

func parseOpaque(scheme, text string, q queryPart, hadFragment bool) *URL {
	path := percentEncode([]byte(text), controlsKeeps)
	if hadFragment && !q.has {
		// Without its fragment and query an opaque path loses its trailing spaces.
		path = strings.TrimRight(path, " ")
	}
	return newURL(URL{Scheme: scheme, Port: -1, IsOpaque: true, Opaque: path,
		Query: q.encode(scheme), HasQuery: q.has})
}

// parsePath appends the path text to segments, dot segments resolved, percent-encoded.
func parsePath(segments []string, text string, special bool) []string {
	separators := "/"
	if special {
		separators = `/\`
	}
	for {
		end := strings.IndexAny(text, separators)
		last := end < 0
		part := text
		if !last {
			part, text = text[:end], text[end+1:]
		}
		lower := part
		if strings.IndexByte(part, '%') >= 0 {
			lower = strings.ToLower(part)
		}
		switch lower {
		case "..", ".%2e", "%2e.", "%2e%2e":
			if len(segments) > 0 {
				segments = segments[:len(segments)-1]
			}
			if last {
				segments = append(segments, "")
			}
		case ".", "%2e":
			if last {
				segments = append(segments, "")
			}
		default:
			segments = append(segments, percentEncode([]byte(part), pathKeeps))
		}
		if last {
			return segments
		}
	}
}

// What each part keeps as it is (everything else, and every byte from 0x80, is
// percent-encoded): the `url` crate's PATH, SPECIAL_QUERY, QUERY and CONTROLS sets.
func pathKeeps(c byte) bool {
	return c == '!' || c >= '$' && c <= ';' || c == '=' || c >= '@' && c <= '_' ||
		c >= 'a' && c <= 'z' || c == '|' || c == '~'
}

func specialQueryKeeps(c byte) bool { return queryKeeps(c) && c != '\'' }

func queryKeeps(c byte) bool {
	return c == '!' || c >= '$' && c <= ';' || c == '=' || c >= '?' && c <= '~'
}

func controlsKeeps(c byte) bool { return c >= 0x20 && c <= 0x7e }

const upperHex = "0123456789ABCDEF"

func percentEncode(data []byte, keeps func(byte) bool) string {
	clean := true
	for _, c := range data {
		if !keeps(c) {
			clean = false
			break
		}
	}
	if clean {
		return string(data)
	}
	var b strings.Builder
	for _, c := range data {
		if keeps(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(upperHex[c>>4])
			b.WriteByte(upperHex[c&15])
		}
	}
	return b.String()
}

func parseHost(text string, special bool) (string, error) {
	if strings.HasPrefix(text, "[") {
		if !strings.HasSuffix(text, "]") {
			return "", errNotURL
		}
		pieces, err := parseIPv6(text[1 : len(text)-1])
		if err != nil {
			return "", err
		}
		return "[" + serialiseIPv6(pieces) + "]", nil
	}
	if !special {
		if strings.ContainsAny(text, "\x00\t\n\r #/:<>?@[\\]^|") {
			return "", errNotURL
		}
		return percentEncode([]byte(text), controlsKeeps), nil
	}
	if strings.IndexByte(text, '%') >= 0 {
		decoded := percentDecode(text)
		if !utf8.ValidString(decoded) {
			return "", errNotURL
		}
		text = decoded
	}
	domain, err := domainToASCII(text)
	if err != nil {
		return "", err
	}
	if domain == "" || strings.IndexFunc(domain, func(r rune) bool {
		return r <= 0x20 || r == 0x7f || strings.ContainsRune("#%/:<>?@[\\]^|", r)
	}) >= 0 {
		return "", errNotURL
	}
	if endsInANumber(domain) {
		return parseIPv4(domain)
	}
	return domain, nil
}

func percentDecode(text string) string {
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		if text[i] == '%' && i+2 < len(text) && isHex(text[i+1]) && isHex(text[i+2]) {
			b.WriteByte(hexValue(text[i+1])<<4 | hexValue(text[i+2]))
			i += 2
		} else {
			b.WriteByte(text[i])
		}
	}
	return b.String()
}

// domainToASCII lowercases, and puts non-ASCII labels in Punycode (without the rest of UTS
// 46); a label that claims to be Punycode (xn--) must decode to something not all ASCII.
func domainToASCII(domain string) (string, error) {
	labels := strings.Split(strings.ToLower(domain), ".")
	for i, label := range labels {
		if !isASCII(label) {
			labels[i] = "xn--" + punycodeEncode(label)
		} else if strings.HasPrefix(label, "xn--") {
			decoded, ok := punycodeDecode(label[4:])
			if !ok || decoded == "" || isASCII(decoded) {
				return "", errNotURL
			}
			for _, r := range decoded {
				// Roughly UTS 46's validity: letters (in lowercase), marks and digits.
				if !unicode.In(r, unicode.L, unicode.M, unicode.N) || unicode.ToLower(r) != r {
					return "", errNotURL
				}
			}
		}
	}
	return strings.Join(labels, "."), nil
}

func endsInANumber(domain string) bool {
	parts := strings.Split(domain, ".")
	if parts[len(parts)-1] == "" {
		if len(parts) == 1 {
			return false
		}
		parts = parts[:len(parts)-1]
	}
	last := parts[len(parts)-1]
	if last != "" && strings.Trim(last, "0123456789") == "" {
		return true
	}
	_, ok := ipv4Number(last)
	return ok
}

// ipv4Number is the value of one part of an IPv4 address (decimal, 0x hex or 0 octal);
// overflowing values are capped just past 32 bits.
func ipv4Number(text string) (uint64, bool) {
	if text == "" {
		return 0, false
	}
	radix, digits := uint64(10), "0123456789"
	if strings.HasPrefix(text, "0x") || strings.HasPrefix(text, "0X") {
		text, radix, digits = text[2:], 16, "0123456789abcdefABCDEF"
	} else if len(text) >= 2 && text[0] == '0' {
		text, radix, digits = text[1:], 8, "01234567"
	}
	var value uint64
	for i := 0; i < len(text); i++ {
		d := strings.IndexByte(digits, text[i])
		if d < 0 {
			return 0, false
		}
		if d >= 16 {
			d -= 6 // upper-case hex digits
		}
		if value <= 1<<32 {
			value = value*radix + uint64(d)
		}
	}
	return value, true
}

func parseIPv4(domain string) (string, error) {
	parts := strings.Split(domain, ".")
	if parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	if len(parts) > 4 {
		return "", errNotURL
	}
	numbers := make([]uint64, 0, 4)
	for _, part := range parts {
		n, ok := ipv4Number(part)
		if !ok || n > 0xFFFFFFFF {
			return "", errNotURL
		}
		numbers = append(numbers, n)
	}
	address := numbers[len(numbers)-1]
	numbers = numbers[:len(numbers)-1]
	if address >= 1<<(8*(4-len(numbers))) {
		return "", errNotURL
	}
	for i, n := range numbers {
		if n > 255 {
			return "", errNotURL
		}
		address += n << (8 * (3 - i))
	}
	return strconv.Itoa(int(address>>24)) + "." + strconv.Itoa(int(address>>16&255)) + "." +
		strconv.Itoa(int(address>>8&255)) + "." + strconv.Itoa(int(address&255)), nil
}

// parseIPv6 is the WHATWG IPv6 parser.
func parseIPv6(text string) ([8]uint16, error) {
	var pieces [8]uint16
	piece, compress, i, n := 0, -1, 0, len(text)
	if n < 2 {
		return pieces, errNotURL
	}
	if text[0] == ':' {
		if text[1] != ':' {
			return pieces, errNotURL
		}
		i, piece = 2, 1
		compress = piece
	}
	for i < n {
		if piece == 8 {
			return pieces, errNotURL
		}
		if text[i] == ':' {
			if compress >= 0 {
				return pieces, errNotURL
			}
			i++
			piece++
			compress = piece
			continue
		}
		value, length := 0, 0
		for length < 4 && i < n && isHex(text[i]) {
			value = value*16 + int(hexValue(text[i]))
			i++
			length++
		}
		if i < n && text[i] == '.' {
			if length == 0 || piece > 6 {
				return pieces, errNotURL
			}
			i -= length
			numbersSeen := 0
			for i < n {
				if numbersSeen > 0 {
					if text[i] == '.' && numbersSeen < 4 {
						i++
					} else {
						return pieces, errNotURL
					}
				}
				if i >= n || text[i] < '0' || text[i] > '9' {
					return pieces, errNotURL
				}
				number := -1
				for i < n && text[i] >= '0' && text[i] <= '9' {
					digit := int(text[i] - '0')
					switch number {
					case -1:
						number = digit
					case 0:
						return pieces, errNotURL
					default:
						number = number*10 + digit
					}
					if number > 255 {
						return pieces, errNotURL
					}
					i++
				}
				pieces[piece] = pieces[piece]*0x100 + uint16(number)
				numbersSeen++
				if numbersSeen == 2 || numbersSeen == 4 {
					piece++
				}
			}
			if numbersSeen != 4 {
				return pieces, errNotURL
			}
			break
		}
		if i < n && text[i] == ':' {
			i++
			if i >= n {
				return pieces, errNotURL
			}
		} else if i < n {
			return pieces, errNotURL
		}
		pieces[piece] = uint16(value)
		piece++
	}
	if compress >= 0 {
		swaps := piece - compress
		piece = 7
		for piece != 0 && swaps > 0 {
			other := compress + swaps - 1
			pieces[piece], pieces[other] = pieces[other], pieces[piece]
			piece--
			swaps--
		}
	} else if piece != 8 {
		return pieces, errNotURL
	}
	return pieces, nil
}

// serialiseIPv6 compresses the first longest run of two or more zero pieces.
func serialiseIPv6(pieces [8]uint16) string {
	best, bestLen, start := -1, 1, -1
	for i := 0; i <= 8; i++ {
		if i < 8 && pieces[i] == 0 {
			if start < 0 {
				start = i
			}
		} else if start >= 0 {
			if i-start > bestLen {
				best, bestLen = start, i-start
			}
			start = -1
		}
	}
	join := func(ps []uint16) string {
		parts := make([]string, len(ps))
		for i, p := range ps {
			parts[i] = strconv.FormatUint(uint64(p), 16)
		}
		return strings.Join(parts, ":")
	}
	if best < 0 {
		return join(pieces[:])
	}
	return join(pieces[:best]) + "::" + join(pieces[best+bestLen:])
}

// Punycode (RFC 3492), for the non-ASCII labels of a host.
const (
	punyBase, punyTMin, punyTMax, punySkew, punyDamp = 36, 1, 26, 38, 700
	punyInitialBias, punyInitialN                    = 72, 128
)

func punyAdapt(delta, points int, first bool) int {
	if first {
		delta /= punyDamp
	} else {
		delta /= 2
	}
	delta += delta / points
	k := 0
	for delta > (punyBase-punyTMin)*punyTMax/2 {
		delta /= punyBase - punyTMin
		k += punyBase
	}
	return k + (punyBase-punyTMin+1)*delta/(delta+punySkew)
}

func punyThreshold(k, bias int) int {
	switch {
	case k <= bias:
		return punyTMin
	case k >= bias+punyTMax:
		return punyTMax
	}
	return k - bias
}

func punyDigit(d int) byte {
	if d < 26 {
		return byte('a' + d)
	}
	return byte('0' + d - 26)
}

func punycodeEncode(label string) string {
	runes := []rune(label)
	var out []byte
	for _, r := range runes {
		if r < 0x80 {
			out = append(out, byte(r))
		}
	}
	basic := len(out)
	handled := basic
	if basic > 0 {
		out = append(out, '-')
	}
	n, delta, bias := punyInitialN, 0, punyInitialBias
	for handled < len(runes) {
		m := int(^uint(0) >> 1)
		for _, r := range runes {
			if int(r) >= n && int(r) < m {
				m = int(r)
			}
		}
		delta += (m - n) * (handled + 1)
		n = m
		for _, r := range runes {
			if int(r) < n {
				delta++
			}
			if int(r) == n {
				q := delta
				for k := punyBase; ; k += punyBase {
					t := punyThreshold(k, bias)
					if q < t {
						break
					}
					out = append(out, punyDigit(t+(q-t)%(punyBase-t)))
					q = (q - t) / (punyBase - t)
				}
				out = append(out, punyDigit(q))
				bias = punyAdapt(delta, handled+1, handled == basic)
				delta = 0
				handled++
			}
		}
		delta++
		n++
	}
	return string(out)
}

func punycodeDecode(text string) (string, bool) {
	var out []rune
	rest := text
	if at := strings.LastIndexByte(text, '-'); at >= 0 {
		for i := 0; i < at; i++ {
			if text[i] >= 0x80 {
				return "", false
			}
			out = append(out, rune(text[i]))
		}
		rest = text[at+1:]
	}
	n, i, bias := punyInitialN, 0, punyInitialBias
	for pos := 0; pos < len(rest); {
		oldI, w := i, 1
		for k := punyBase; ; k += punyBase {
			if pos >= len(rest) {
				return "", false
			}
			c := rest[pos]
			pos++
			var digit int
			switch {
			case c >= 'a' && c <= 'z':
				digit = int(c - 'a')
			case c >= 'A' && c <= 'Z':
				digit = int(c - 'A')
			case c >= '0' && c <= '9':
				digit = int(c-'0') + 26
			default:
				return "", false
			}
			i += digit * w
			if i > 0x10FFFF*(len(out)+1) {
				return "", false
			}
			t := punyThreshold(k, bias)
			if digit < t {
				break
			}
			w *= punyBase - t
		}
		bias = punyAdapt(i-oldI, len(out)+1, oldI == 0)
		n += i / (len(out) + 1)
		i %= len(out) + 1
		if n > 0x10FFFF || n >= 0xD800 && n <= 0xDFFF {
			return "", false
		}
		out = append(out[:i], append([]rune{rune(n)}, out[i:]...)...)
		i++
	}
	return string(out), true
}

// normalisePercent decodes encoded unreserved characters and uppercases the other escapes'
// hex digits.
func normalisePercent(text string) string {
	if strings.IndexByte(text, '%') < 0 {
		return text
	}
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		if text[i] == '%' && i+2 < len(text) && isHex(text[i+1]) && isHex(text[i+2]) {
			c := hexValue(text[i+1])<<4 | hexValue(text[i+2])
			if isASCIIAlpha(c) || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
				b.WriteByte(c)
			} else {
				b.WriteByte('%')
				b.WriteByte(upperHex[c>>4])
				b.WriteByte(upperHex[c&15])
			}
			i += 2
		} else {
			b.WriteByte(text[i])
		}
	}
	return b.String()
}

func normalise(u *URL) *URL {
	if strings.IndexByte(u.Href, '%') < 0 {
		return u
	}
	next := *u
	if next.IsOpaque {
		next.Opaque = normalisePercent(next.Opaque)
	} else {
		next.Path = make([]string, len(u.Path))
		for i, segment := range u.Path {
			next.Path[i] = normalisePercent(segment)
		}
	}
	next.Query = normalisePercent(next.Query)
	return newURL(next)
}

// ParseRoot is the root of a crawl, normalised, or a one-line reason why it cannot be one.
func ParseRoot(text string) (*URL, error) {
	u := ParseURL(text, nil, nil)
	switch {
	case u == nil:
		return nil, errors.New("invalid URL " + strconv.Quote(text))
	case u.Scheme != "http":
		return nil, errors.New("unsupported scheme " + strconv.Quote(u.Scheme) +
			" (only http is crawled)")
	case u.Host == "":
		return nil, errors.New("URL " + strconv.Quote(text) + " has no host")
	}
	return u, nil
}

func isASCIIAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexValue(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
