// charset.go mirrors crates/core/src/charset.rs: a page's encoding (byte order mark,
// Content-Type, a <meta> in its first 1024 bytes, else UTF-8) and its text.
//
// Every label of the Encoding Standard is known (tables.go), so a page's encoding is decided as the core
// decides it. UTF-8, UTF-16 and the single-byte encodings (tables.go) are decoded as the
// standard says; Go's standard library has no CJK encodings, so a page in GBK, gb18030,
// Big5, EUC-JP, ISO-2022-JP, Shift_JIS or EUC-KR is read as UTF-8, its queries encoded in
// UTF-8: its ASCII links are found as the core finds them, its other links may differ.

package main

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

const prescanBytes = 1024

// Encoding is one encoding of the Encoding Standard: how to decode a page, and how to encode
// a query (UTF8URLs: its URLs are UTF-8, as for UTF-8 and UTF-16 pages).
type Encoding struct {
	Name     string
	UTF8URLs bool
	table    *[128]rune
	reverse  map[rune]byte
}

var (
	encodings = map[string]*Encoding{}
	labels    = map[string]*Encoding{}
	utf8Enc   *Encoding
)

func init() {
	for label, name := range encodingLabels {
		enc := encodings[name]
		if enc == nil {
			enc = newEncoding(name)
			encodings[name] = enc
		}
		labels[label] = enc
	}
	utf8Enc = encodings["UTF-8"]
}

func newEncoding(name string) *Encoding {
	enc := &Encoding{Name: name}
	switch name {
	case "UTF-8", "UTF-16BE", "UTF-16LE", "replacement":
		enc.UTF8URLs = true
	case "GBK", "gb18030", "Big5", "EUC-JP", "ISO-2022-JP", "Shift_JIS", "EUC-KR":
		// Not in Go's standard library: read as UTF-8 (see the file's comment).
		enc.UTF8URLs = true
	}
	if table, ok := singleByteTables[name]; ok {
		enc.table = &table
	} else if name == "x-user-defined" {
		var table [128]rune
		for i := range table {
			table[i] = rune(0xF780 + i)
		}
		enc.table = &table
	}
	if enc.table != nil {
		enc.reverse = map[rune]byte{}
		for i, r := range enc.table {
			if r != utf8.RuneError {
				enc.reverse[r] = byte(0x80 + i)
			}
		}
	}
	return enc
}

// EncodingForLabel is the encoding a label names (ASCII whitespace trimmed, any case), or nil.
func EncodingForLabel(label string) *Encoding {
	return labels[strings.ToLower(strings.Trim(label, "\t\n\f\r "))]
}

// Decode is the text of a page's bytes in this encoding; what it cannot decode is U+FFFD.
func (e *Encoding) Decode(data []byte) string {
	switch {
	case e.table != nil:
		var b strings.Builder
		for _, c := range data {
			if c < 0x80 {
				b.WriteByte(c)
			} else {
				b.WriteRune(e.table[c-0x80])
			}
		}
		return b.String()
	case e.Name == "UTF-16LE" || e.Name == "UTF-16BE":
		return decodeUTF16(data, e.Name == "UTF-16BE")
	case e.Name == "replacement":
		if len(data) == 0 {
			return ""
		}
		return "\uFFFD"
	}
	return decodeUTF8(data)
}

// Encode is text in this encoding; characters it lacks become &#NNNN;.
func (e *Encoding) Encode(text string) []byte {
	if e.table == nil {
		return []byte(text)
	}
	out := make([]byte, 0, len(text))
	for _, r := range text {
		if r < 0x80 {
			out = append(out, byte(r))
		} else if c, ok := e.reverse[r]; ok {
			out = append(out, c)
		} else {
			out = append(out, "&#"+strconv.Itoa(int(r))+";"...)
		}
	}
	return out
}

// decodeUTF8 decodes as the Encoding Standard does: each maximal invalid subsequence is one
// U+FFFD (Go's own conversions give one per byte, or one per run).
func decodeUTF8(data []byte) string {
	if utf8.Valid(data) {
		return string(data)
	}
	var b strings.Builder
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r != utf8.RuneError || size > 1 {
			b.WriteRune(r)
			i += size
			continue
		}
		b.WriteRune(utf8.RuneError)
		i += invalidPrefix(data[i:])
	}
	return b.String()
}

// invalidPrefix is the length of the maximal subpart of an ill-formed sequence at the start
// of data: a lead byte and the continuation bytes that may follow it, at least one byte.
func invalidPrefix(data []byte) int {
	lead := data[0]
	var need int
	lower, upper := byte(0x80), byte(0xBF)
	switch {
	case lead >= 0xC2 && lead <= 0xDF:
		need = 1
	case lead >= 0xE0 && lead <= 0xEF:
		need = 2
		if lead == 0xE0 {
			lower = 0xA0
		} else if lead == 0xED {
			upper = 0x9F
		}
	case lead >= 0xF0 && lead <= 0xF4:
		need = 3
		if lead == 0xF0 {
			lower = 0x90
		} else if lead == 0xF4 {
			upper = 0x8F
		}
	default:
		return 1
	}
	n := 1
	for n <= need && n < len(data) && data[n] >= lower && data[n] <= upper {
		lower, upper = 0x80, 0xBF
		n++
	}
	return n
}

func decodeUTF16(data []byte, bigEndian bool) string {
	units := make([]uint16, 0, len(data)/2)
	for i := 0; i+1 < len(data); i += 2 {
		if bigEndian {
			units = append(units, uint16(data[i])<<8|uint16(data[i+1]))
		} else {
			units = append(units, uint16(data[i+1])<<8|uint16(data[i]))
		}
	}
	text := string(utf16.Decode(units))
	if len(data)%2 == 1 {
		text += "\uFFFD"
	}
	return text
}

// DecodePage is a page's text and its encoding: BOM, else Content-Type, else <meta>, else
// UTF-8.
func DecodePage(body []byte, contentType string) (string, *Encoding) {
	for _, bom := range []struct {
		prefix, name string
	}{{"\xef\xbb\xbf", "UTF-8"}, {"\xff\xfe", "UTF-16LE"}, {"\xfe\xff", "UTF-16BE"}} {
		if strings.HasPrefix(string(body[:minInt(len(body), 3)]), bom.prefix) {
			enc := encodings[bom.name]
			return enc.Decode(body[len(bom.prefix):]), enc
		}
	}
	var enc *Encoding
	if label, ok := charsetParameter(contentType); ok {
		enc = EncodingForLabel(label)
	}
	if enc == nil {
		enc = prescan(body)
	}
	if enc == nil {
		enc = utf8Enc
	}
	return enc.Decode(body), enc
}

func charsetParameter(contentType string) (string, bool) {
	parameters := strings.Split(contentType, ";")
	for _, parameter := range parameters[1:] {
		if at := strings.IndexByte(parameter, '='); at >= 0 &&
			asciiLower(strings.TrimSpace(parameter[:at])) == "charset" {
			return strings.Trim(strings.TrimSpace(parameter[at+1:]), `"`), true
		}
	}
	return "", false
}

func prescan(body []byte) *Encoding {
	label, ok := ExtractLinks(decodeUTF8(body[:minInt(len(body), prescanBytes)])).Charset()
	if !ok {
		return nil
	}
	enc := EncodingForLabel(label)
	switch {
	case enc == nil:
		return nil
	// The page is read as ASCII to find the declaration, so it cannot be UTF-16; and
	// x-user-defined is read as windows-1252 (the prescan's own rules).
	case enc.Name == "UTF-16BE" || enc.Name == "UTF-16LE":
		return utf8Enc
	case enc.Name == "x-user-defined":
		return encodings["windows-1252"]
	}
	return enc
}

// fromMetaContent is the label after `charset=` in a <meta http-equiv=Content-Type> content.
func fromMetaContent(content string) (string, bool) {
	lower := asciiLower(content)
	from := 0
	for {
		at := strings.Index(lower[from:], "charset")
		if at < 0 {
			return "", false
		}
		from += at + len("charset")
		rest := strings.TrimLeftFunc(content[from:], unicode.IsSpace)
		if !strings.HasPrefix(rest, "=") {
			continue
		}
		rest = strings.TrimLeftFunc(rest[1:], unicode.IsSpace)
		if rest == "" {
			return "", false
		}
		var label string
		if quote := rest[0]; quote == '"' || quote == '\'' {
			end := strings.IndexByte(rest[1:], quote)
			if end < 0 {
				return "", false
			}
			label = rest[1 : 1+end]
		} else {
			label = rest
			if end := strings.IndexAny(rest, " \t\n\r;"); end >= 0 {
				label = rest[:end]
			}
		}
		return label, label != ""
	}
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}
