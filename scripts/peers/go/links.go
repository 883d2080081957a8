// links.go mirrors crates/core/src/links.rs: <a href> (or SVG's <a xlink:href>) and
// <area href>, resolved against the first <base href>; nothing inside comments, scripts,
// styles or other raw text; <noscript> read as markup, as a browser without scripts reads it.
//
// Go's standard library has no HTML tokenizer, so this one follows the WHATWG tokenizer (and
// html5gum's choice of raw-text elements) as far as finding tags and attribute values needs:
// comments with their odd endings, bogus comments, raw text, RCDATA and script data with its
// escape states, attribute values with their character references.

package main

import (
	"html"
	"strconv"
	"strings"
)

// Links is what a page links to, before resolution.
type Links struct {
	// Base is the href of the first <base> that has one.
	Base    string
	HasBase bool
	// Hrefs are the hrefs of every <a> and <area>, in document order.
	Hrefs []string
	// charset is the label of the first <meta> that declares one.
	charset    string
	hasCharset bool
}

// Charset is the label of the first <meta> that declares an encoding, if any.
func (l *Links) Charset() (string, bool) { return l.charset, l.hasCharset }

// rawText says how the text after each of these start tags is read; html5gum's list says
// noframe, not noframes, and the crawler follows html5gum.
var rawText = map[string]string{
	"textarea": "rcdata", "title": "rcdata", "plaintext": "plaintext", "script": "script",
	"style": "rawtext", "iframe": "rawtext", "xmp": "rawtext", "noembed": "rawtext",
	"noframe": "rawtext",
}

// The attributes a crawler reads; the first of each name counts, as in a browser.
var wanted = map[string]bool{
	"href": true, "xlink:href": true, "charset": true, "http-equiv": true, "content": true,
}

func isSpace(c byte) bool { return c == '\t' || c == '\n' || c == '\f' || c == ' ' }

// ExtractLinks finds the links of a page's text. Never fails: any text gives some (maybe
// empty) answer.
func ExtractLinks(text string) *Links {
	if strings.IndexByte(text, '\r') >= 0 {
		text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	}
	links := &Links{}
	pos, n := 0, len(text)
	for {
		lt := strings.IndexByte(text[pos:], '<')
		if lt < 0 || pos+lt+1 >= n {
			return links
		}
		lt += pos
		switch c := text[lt+1]; {
		case isASCIIAlpha(c):
			name, attributes, end, ok := readTag(text, lt+1)
			if !ok {
				return links
			}
			pos = end
			links.startTag(name, attributes)
			kind, raw := rawText[name]
			if !raw {
				continue
			}
			if kind == "plaintext" {
				return links
			}
			var close int
			if kind == "script" {
				close = endOfScript(text, pos)
			} else {
				close = findEndTag(text, pos, name)
			}
			if close < 0 {
				return links
			}
			if _, _, pos, ok = readTag(text, close+2); !ok {
				return links
			}
		case c == '/':
			switch {
			case lt+2 >= n:
				return links
			case isASCIIAlpha(text[lt+2]):
				var ok bool
				if _, _, pos, ok = readTag(text, lt+2); !ok {
					return links
				}
			case text[lt+2] == '>':
				pos = lt + 3
			default:
				pos = afterBogusComment(text, lt+2)
			}
		case c == '!':
			if strings.HasPrefix(text[lt+2:], "--") {
				pos = afterComment(text, lt+4)
			} else {
				// A doctype, CDATA (a bogus comment outside foreign content) or a bogus
				// comment: each ends at the first '>'.
				pos = afterBogusComment(text, lt+2)
			}
		case c == '?':
			pos = afterBogusComment(text, lt+1)
		default:
			pos = lt + 1
		}
		if pos < 0 {
			return links
		}
	}
}

// readTag reads the tag whose name starts at pos: its name, the raw values of the wanted
// attributes, and where it ends; ok is false if the document ends inside it.
func readTag(text string, pos int) (string, map[string]string, int, bool) {
	n := len(text)
	start := pos
	for pos < n && !isSpace(text[pos]) && text[pos] != '/' && text[pos] != '>' {
		pos++
	}
	name := asciiLower(text[start:pos])
	var attributes map[string]string
	for {
		for pos < n && (isSpace(text[pos]) || text[pos] == '/') {
			pos++
		}
		if pos >= n {
			return "", nil, 0, false
		}
		if text[pos] == '>' {
			return name, attributes, pos + 1, true
		}
		// An attribute's name may start with '='; it ends before space, '/', '>' or '='.
		start = pos
		pos++
		for pos < n && !isSpace(text[pos]) && text[pos] != '/' && text[pos] != '>' &&
			text[pos] != '=' {
			pos++
		}
		attribute := asciiLower(text[start:pos])
		for pos < n && isSpace(text[pos]) {
			pos++
		}
		value := ""
		if pos < n && text[pos] == '=' {
			pos++
			for pos < n && isSpace(text[pos]) {
				pos++
			}
			if pos >= n {
				return "", nil, 0, false
			}
			switch quote := text[pos]; quote {
			case '"', '\'':
				end := strings.IndexByte(text[pos+1:], quote)
				if end < 0 {
					return "", nil, 0, false
				}
				value, pos = text[pos+1:pos+1+end], pos+end+2
			case '>':
			default:
				start = pos
				for pos < n && !isSpace(text[pos]) && text[pos] != '>' {
					pos++
				}
				value = text[start:pos]
			}
		}
		if wanted[attribute] {
			if attributes == nil {
				attributes = map[string]string{}
			}
			if _, seen := attributes[attribute]; !seen {
				attributes[attribute] = value
			}
		}
	}
}

// findEndTag is where `</name` followed by space, '/' or '>' starts, from pos; -1 if nowhere.
func findEndTag(text string, pos int, name string) int {
	for {
		at := strings.Index(text[pos:], "</")
		if at < 0 {
			return -1
		}
		at += pos
		if isEndTag(text, at, name) {
			return at
		}
		pos = at + 2
	}
}

// isEndTag tells whether `</name` (any case) followed by space, '/' or '>' is at text[at:].
func isEndTag(text string, at int, name string) bool {
	end := at + 2 + len(name)
	return end < len(text) && strings.HasPrefix(text[at:], "</") &&
		asciiLower(text[at+2:end]) == name && (isSpace(text[end]) || text[end] == '/' ||
		text[end] == '>')
}

// endOfScript is where the `</script` that ends the script data starting at pos begins, or -1:
// the script data states, with their escapes (`<!--`) and double escapes (`<script>` inside).
func endOfScript(text string, pos int) int {
	state := "data"
	for ; pos < len(text); pos++ {
		rest := text[pos:]
		switch {
		case state == "data" && strings.HasPrefix(rest, "<!--"):
			// "<!--" then "-->" may share their dashes ("<!-->").
			state, pos = "escaped", pos+1
		case state != "data" && strings.HasPrefix(rest, "-->"):
			state, pos = "data", pos+2
		case isEndTag(text, pos, "script"):
			if state != "double-escaped" {
				return pos
			}
			state, pos = "escaped", pos+len("</script")
		case state == "escaped" && len(rest) > len("<script") && rest[0] == '<' &&
			asciiLower(rest[1:len("<script")]) == "script" &&
			(isSpace(rest[len("<script")]) || rest[len("<script")] == '/' ||
				rest[len("<script")] == '>'):
			state, pos = "double-escaped", pos+len("<script")
		}
	}
	return -1
}

func afterBogusComment(text string, pos int) int {
	end := strings.IndexByte(text[pos:], '>')
	if end < 0 {
		return -1
	}
	return pos + end + 1
}

func afterComment(text string, body int) int {
	rest := text[body:]
	switch {
	case strings.HasPrefix(rest, ">"):
		return body + 1
	case strings.HasPrefix(rest, "->"):
		return body + 2
	}
	end, bang := strings.Index(rest, "-->"), strings.Index(rest, "--!>")
	switch {
	case end < 0 && bang < 0:
		return -1
	case bang >= 0 && (end < 0 || bang < end):
		return body + bang + 4
	}
	return body + end + 3
}

func (l *Links) startTag(name string, attributes map[string]string) {
	switch name {
	case "a":
		// An SVG <a> may link with xlink:href; href wins where both are given.
		if href, ok := attributes["href"]; ok {
			l.Hrefs = append(l.Hrefs, attributeValue(href))
		} else if href, ok := attributes["xlink:href"]; ok {
			l.Hrefs = append(l.Hrefs, attributeValue(href))
		}
	case "area":
		if href, ok := attributes["href"]; ok {
			l.Hrefs = append(l.Hrefs, attributeValue(href))
		}
	case "base":
		if href, ok := attributes["href"]; ok && !l.HasBase {
			l.Base, l.HasBase = attributeValue(href), true
		}
	case "meta":
		if l.hasCharset {
			return
		}
		// The first <meta> that declares an encoding is the page's.
		if charset, ok := attributes["charset"]; ok {
			l.charset = strings.TrimSpace(attributeValue(charset))
		} else if equiv, ok := attributes["http-equiv"]; ok {
			if content, ok := attributes["content"]; ok &&
				asciiLower(strings.TrimSpace(attributeValue(equiv))) == "content-type" {
				l.charset, _ = fromMetaContent(strings.TrimSpace(attributeValue(content)))
			}
		}
		l.hasCharset = l.charset != ""
	}
}

// c1Replacements: numeric references to these code points mean what windows-1252 means by
// the byte.
var c1Replacements = map[int]rune{
	0x80: '\u20ac', 0x82: '\u201a', 0x83: '\u0192', 0x84: '\u201e', 0x85: '\u2026',
	0x86: '\u2020', 0x87: '\u2021', 0x88: '\u02c6', 0x89: '\u2030', 0x8A: '\u0160',
	0x8B: '\u2039', 0x8C: '\u0152', 0x8E: '\u017d', 0x91: '\u2018', 0x92: '\u2019',
	0x93: '\u201c', 0x94: '\u201d', 0x95: '\u2022', 0x96: '\u2013', 0x97: '\u2014',
	0x98: '\u02dc', 0x99: '\u2122', 0x9A: '\u0161', 0x9B: '\u203a', 0x9C: '\u0153',
	0x9E: '\u017e', 0x9F: '\u0178',
}

// attributeValue decodes the character references of an attribute value, as in an attribute.
func attributeValue(raw string) string {
	if strings.IndexByte(raw, 0) >= 0 {
		raw = strings.ReplaceAll(raw, "\x00", "\uFFFD")
	}
	if strings.IndexByte(raw, '&') < 0 {
		return raw
	}
	var b strings.Builder
	for {
		amp := strings.IndexByte(raw, '&')
		if amp < 0 {
			b.WriteString(raw)
			return b.String()
		}
		b.WriteString(raw[:amp])
		text, used := reference(raw[amp:])
		b.WriteString(text)
		raw = raw[amp+used:]
	}
}

// reference decodes the character reference at the start of s ("&..."): its text, and how
// many bytes of s it took.
func reference(s string) (string, int) {
	i := 1
	if i < len(s) && s[i] == '#' {
		i++
		hex := i < len(s) && (s[i] == 'x' || s[i] == 'X')
		if hex {
			i++
		}
		start := i
		for i < len(s) && (hex && isHex(s[i]) || !hex && s[i] >= '0' && s[i] <= '9') {
			i++
		}
		if i == start {
			return "&", 1
		}
		base := 10
		if hex {
			base = 16
		}
		value, err := strconv.ParseInt(s[start:i], base, 64)
		if err != nil || value > 0x10FFFF {
			value = 0x110000
		}
		if i < len(s) && s[i] == ';' {
			i++
		}
		return numericReference(int(value)), i
	}
	for i < len(s) && (isASCIIAlpha(s[i]) || s[i] >= '0' && s[i] <= '9') {
		i++
	}
	name := s[1:i]
	if name == "" {
		return "&", 1
	}
	semicolon := i < len(s) && s[i] == ';'
	// In an attribute a named reference is decoded when it ends with ';', or when it is one
	// of the legacy names that may go without and no '=' follows (`?a=1&copy=2` stays).
	if semicolon {
		if text, ok := namedReference(name); ok {
			return text, i + 1
		}
	}
	if text, ok := legacyReferences[name]; ok && (semicolon || i >= len(s) || s[i] != '=') {
		return text, i
	}
	return s[:i], i
}

// namedReference looks `&name;` up in the table of Go's html package: decoded whole, the
// result is the reference's one or two characters; a legacy prefix alone leaves the rest of
// the name and its ';' behind.
func namedReference(name string) (string, bool) {
	reference := "&" + name + ";"
	text := html.UnescapeString(reference)
	if text == reference || text != ";" && strings.HasSuffix(text, ";") {
		return "", false
	}
	return text, true
}

func numericReference(value int) string {
	if value == 0 || value > 0x10FFFF || value >= 0xD800 && value <= 0xDFFF {
		return "\uFFFD"
	}
	if r, ok := c1Replacements[value]; ok {
		return string(r)
	}
	return string(rune(value))
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
