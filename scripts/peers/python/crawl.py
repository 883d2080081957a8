#!/usr/bin/env python3
"""The c10k crawler in Python asyncio: the lecture's final form, as a reference row.

Worker coroutines take URLs from an ``asyncio.Queue``; each opens a connection with
``asyncio.open_connection``, writes an HTTP/1.0 request, reads the response in pieces of 4096
bytes, parses its links and puts the new ones on the queue; ``crawl`` waits on ``q.join()`` and
cancels the workers. That is the "500 Lines" crawler the lecture ends with (``Crawler``,
``work``, ``fetch``), with raw HTTP instead of aiohttp and the standard library only (Python
3.9 or later).

It is not one of the crawlers under study: it is the row readers who would write Python
compare the Rust ones with. So it obeys the rules of the Rust core (``crates/core/src``), each
section below named after the file it mirrors, and ``--urls-out`` writes the same sorted
``STATUS<TAB>URL`` lines as ``c10k crawl``; ``tests/peers.rs`` checks both on the test site.
Where it cannot follow a rule to the letter, the section says so:

- URLs: the WHATWG parser of the ``url`` crate, written out for what a crawl meets; hosts
  with non-ASCII names are lowercased and Punycode-encoded without the rest of UTS 46, and
  ``file:`` URLs (always skipped) are serialised approximately.
- Links: a tokenizer written here after the WHATWG one that ``html5gum`` implements; script
  data follows its escape states, the rest of the standard's error recovery only as far as
  finding tags and attribute values needs.
- Charsets: every label of the Encoding Standard is known; single-byte pages are decoded
  with the standard's tables (Python's codecs, corrected where they differ), CJK pages with
  Python's nearest codecs.

Usage: ``python3 crawl.py http://127.0.0.1:PORT/ --concurrency 100 --json --urls-out FILE``.
Exit status 0 when the crawl ran, 1 when the root could not be fetched, 2 on bad arguments.
"""

import argparse
import asyncio
import codecs
import html.entities
import json
import math
import os
import re
import resource
import socket
import sys
import threading
import time
import unicodedata
import zlib

STRATEGY = "python-asyncio"
USER_AGENT = "c10k-crawler/0.1.0 (python-asyncio peer)"
# Bytes asked of each read: the lecture's sock.recv(4096), as in every Rust strategy.
CHUNK_SIZE = 4096
# The core's caps (config.rs, response.rs).
MAX_HEAD = 64 * 1024
MAX_HEADERS = 100
MAX_URL_LEN = 8 * 1024
# How often the sampler looks at the in-flight count and the resident memory.
SAMPLE_EVERY_S = 0.010


# ---------------------------------------------------------------------------------------------
# error.rs: why a URL ended without an HTTP response, in the words of --urls-out.

CONNECT, TIMEOUT, RESET, MALFORMED = "connect", "timeout", "reset", "malformed"
TOO_LARGE, TRUNCATED, ENCODING = "too-large", "truncated", "encoding"
REDIRECT_LIMIT, SKIPPED = "redirect-limit", "skipped"
# Transport failures are worth another try; a bad response is not.
RETRYABLE = frozenset((CONNECT, TIMEOUT, RESET))


class FetchError(Exception):
    """A fetch that ended without a response: its kind, and a detail for a human."""

    def __init__(self, kind, detail=""):
        super().__init__(detail or kind)
        self.kind = kind


# ---------------------------------------------------------------------------------------------
# urls.rs: one URL per resource. The WHATWG URL parser (as the `url` crate implements it) for
# the schemes a crawl meets, then the core's normal form: no fragment, no user info, and
# percent-encoding normalised as RFC 3986 section 6.2.2 says.

SPECIAL_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21, "file": None}
C0_CONTROL_OR_SPACE = "".join(chr(c) for c in range(0x21))
TAB_OR_NEWLINE = re.compile("[\t\n\r]")
SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
SLASHES = re.compile(r"[/\\]*")
SPECIAL_SEPARATOR = re.compile(r"[/\\]")
# What each part keeps as it is (everything else is percent-encoded as UTF-8, or for a query in
# the page's encoding): the `url` crate's PATH, SPECIAL_QUERY, QUERY and CONTROLS sets.
PATH_UNSAFE = re.compile(r"[^!$-;=@-_a-z|~]")
SPECIAL_QUERY_UNSAFE = re.compile(rb"[^!$-&(-;=?-~]")
QUERY_UNSAFE = re.compile(rb"[^!$-;=?-~]")
CONTROLS_UNSAFE = re.compile(r"[^\x20-\x7e]")
SINGLE_DOT = frozenset((".", "%2e"))
DOUBLE_DOT = frozenset(("..", ".%2e", "%2e.", "%2e%2e"))
FORBIDDEN_HOST = re.compile(r"[\x00\t\n\r #/:<>?@\[\\\]^|]")
FORBIDDEN_DOMAIN = re.compile(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]")
PERCENT_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
PERCENT_BYTES = re.compile(rb"%([0-9A-Fa-f]{2})")
UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _escape_text(match):
    return "".join("%%%02X" % b for b in match.group().encode("utf-8", "surrogatepass"))


def _escape_byte(match):
    return b"%%%02X" % match.group()[0]


class Url:
    """A parsed URL: `path` is a list of segments, or a string for an opaque path."""

    __slots__ = ("scheme", "host", "port", "path", "query", "href", "target_at")

    def __init__(self, scheme, host, port, path, query):
        self.scheme, self.host, self.port, self.path, self.query = scheme, host, port, path, query
        out = [scheme, ":"]
        if host is not None:
            out.append("//" + host)
            if port is not None:
                out.append(":%d" % port)
        # Where the request target (path and query) starts.
        self.target_at = sum(map(len, out))
        if isinstance(path, str):
            out.append(path)
        else:
            if host is None and len(path) > 1 and path[0] == "":
                out.append("/.")
            for segment in path:
                out.append("/")
                out.append(segment)
        if query is not None:
            out.append("?")
            out.append(query)
        self.href = "".join(out)

    def target(self):
        """What the request line asks for: the path and the query."""
        return self.href[self.target_at :]

    def origin(self):
        """Scheme, host and port (the default one if none is written)."""
        port = self.port if self.port is not None else SPECIAL_PORTS.get(self.scheme)
        return (self.scheme, self.host, port)


def parse_url(text, base=None, encoding=None):
    """`text` resolved against `base` and normalised, or None when it is not a URL. A query is
    encoded in `encoding` (the page's), paths always in UTF-8."""
    text = text.strip(C0_CONTROL_OR_SPACE)
    if "\t" in text or "\n" in text or "\r" in text:
        text = TAB_OR_NEWLINE.sub("", text)
    # A fragment is never kept, and nothing before it can contain a '#'; the first '?' after
    # that starts the query (scheme, host and path cannot contain one either).
    text, hash_sign, _ = text.partition("#")
    text, question_mark, query = text.partition("?")
    query = query if question_mark else None
    match = SCHEME.match(text)
    try:
        if match:
            scheme = match.group(1).lower()
            rest = text[match.end() :]
            if scheme == "file":
                url = _file(rest, query, encoding)
            elif scheme in SPECIAL_PORTS:
                slashes = SLASHES.match(rest).end()
                if base is not None and slashes < 2 and base.scheme == scheme:
                    url = _relative(rest, query, base, encoding)
                else:
                    url = _authority(scheme, rest[slashes:], query, encoding)
            elif rest.startswith("//"):
                url = _authority(scheme, rest[2:], query, encoding)
            elif rest.startswith("/"):
                path = _path([], rest[1:], False)
                url = Url(scheme, None, None, path, _query(query, scheme, encoding))
            else:
                url = _opaque(scheme, rest, query, bool(hash_sign))
        elif base is None or isinstance(base.path, str):
            return None
        else:
            url = _relative(text, query, base, encoding)
    except ValueError:
        return None
    return _normalise(url)


def _relative(text, query, base, encoding):
    special = base.scheme in SPECIAL_PORTS
    if not text:
        if query is None:
            return Url(base.scheme, base.host, base.port, list(base.path), base.query)
        return Url(
            base.scheme, base.host, base.port, list(base.path), _query(query, base.scheme, encoding)
        )
    if text[0] == "/" or text[0] == "\\":
        slashes = SLASHES.match(text).end()
        if slashes >= 2:
            rest = text[2:] if text.startswith("//") else text[slashes:]
            return _authority(base.scheme, rest, query, encoding)
        path = _path([], text[1:], special)
    else:
        path = _path(list(base.path[:-1]), text, special)
    return Url(base.scheme, base.host, base.port, path, _query(query, base.scheme, encoding))


def _authority(scheme, text, query, encoding):
    special = scheme in SPECIAL_PORTS
    end = len(text)
    for separator in ("/", "\\") if special else ("/",):
        at = text.find(separator)
        if 0 <= at < end:
            end = at
    authority, rest = text[:end], text[end:]
    at = authority.rfind("@")
    host_port = authority[at + 1 :]
    if at >= 0 and not host_port and (special or at > 0 or rest or query is not None):
        raise ValueError("empty host")
    # The first ':' outside brackets ends the host.
    bracket, colon = False, -1
    for i, c in enumerate(host_port):
        if c == "[":
            bracket = True
        elif c == "]":
            bracket = False
        elif c == ":" and not bracket:
            colon = i
            break
    host_text = host_port if colon < 0 else host_port[:colon]
    if not host_text and (special or colon >= 0):
        raise ValueError("empty host")
    host = _host(host_text, special)
    port = None
    if colon >= 0:
        digits = host_port[colon + 1 :]
        if digits:
            if not digits.isascii() or not digits.isdigit() or int(digits) > 65535:
                raise ValueError("invalid port")
            port = int(digits)
            if port == SPECIAL_PORTS.get(scheme):
                port = None
    if special:
        path = _path([], rest[1:] if rest else "", True)
    else:
        path = _path([], rest[1:], False) if rest else []
    return Url(scheme, host, port, path, _query(query, scheme, encoding))


def _file(text, query, encoding):
    # Approximate: file: URLs are never fetched (another scheme), only recorded as skipped.
    host = ""
    if text.startswith(("//", "\\\\")):
        text = text[2:]
        end = len(SPECIAL_SEPARATOR.split(text, 1)[0])
        host = _host(text[:end], True) if text[:end] else ""
        host = "" if host == "localhost" else host
        text = text[end:]
    text = text.lstrip("/\\")
    return Url("file", host, None, _path([], text, True), _query(query, "file", encoding))


def _opaque(scheme, text, query, had_fragment):
    path = CONTROLS_UNSAFE.sub(_escape_text, text)
    if had_fragment and query is None:
        # Without its fragment and query an opaque path loses its trailing spaces.
        path = path.rstrip(" ")
    return Url(scheme, None, None, path, _query(query, scheme, None))


def _path(segments, text, special):
    """`segments` with the path `text` appended, dot segments resolved, percent-encoded."""
    parts = SPECIAL_SEPARATOR.split(text) if special else text.split("/")
    last = len(parts) - 1
    for i, part in enumerate(parts):
        lower = part.lower() if "%" in part else part
        if lower in DOUBLE_DOT:
            if segments:
                segments.pop()
            if i == last:
                segments.append("")
        elif lower in SINGLE_DOT:
            if i == last:
                segments.append("")
        else:
            segments.append(PATH_UNSAFE.sub(_escape_text, part))
    return segments


def _query(query, scheme, encoding):
    if query is None:
        return None
    # Only these schemes take the page's encoding for their queries.
    if encoding is None or encoding.utf8_urls or scheme not in ("http", "https", "file", "ftp"):
        data = query.encode("utf-8", "surrogatepass")
    else:
        data = encoding.encode(query)
    unsafe = SPECIAL_QUERY_UNSAFE if scheme in SPECIAL_PORTS else QUERY_UNSAFE
    return unsafe.sub(_escape_byte, data).decode("ascii")


def _host(text, special):
    if text.startswith("["):
        if not text.endswith("]"):
            raise ValueError("invalid IPv6 address")
        return "[" + _serialise_ipv6(_parse_ipv6(text[1:-1])) + "]"
    if not special:
        if FORBIDDEN_HOST.search(text):
            raise ValueError("invalid host")
        return CONTROLS_UNSAFE.sub(_escape_text, text)
    if "%" in text:
        # Invalid UTF-8 after decoding is no host (UnicodeDecodeError is a ValueError).
        data = PERCENT_BYTES.sub(lambda m: bytes([int(m.group(1), 16)]), text.encode("utf-8"))
        text = data.decode("utf-8")
    domain = _domain_to_ascii(text)
    if not domain or FORBIDDEN_DOMAIN.search(domain):
        raise ValueError("invalid domain")
    if _ends_in_a_number(domain):
        return _parse_ipv4(domain)
    return domain


def _domain_to_ascii(domain):
    """Lowercase ASCII; non-ASCII labels in Punycode (without the rest of UTS 46); a label
    that claims to be Punycode (`xn--`) must decode to something not all ASCII."""
    labels = domain.lower().split(".") if not domain.isascii() else domain.lower().split(".")
    for i, label in enumerate(labels):
        if not label.isascii():
            labels[i] = "xn--" + label.encode("punycode").decode("ascii")
        elif label.startswith("xn--"):
            try:
                decoded = label[4:].encode("ascii").decode("punycode")
            except UnicodeError:
                raise ValueError("invalid Punycode label") from None
            if not decoded or decoded.isascii() or not all(_valid_in_domain(c) for c in decoded):
                raise ValueError("invalid Punycode label")
    return ".".join(labels)


def _valid_in_domain(c):
    # Roughly UTS 46's validity: letters (in lowercase), marks and digits.
    return unicodedata.category(c)[0] in "LMN" and c == c.lower()


def _ends_in_a_number(domain):
    parts = domain.split(".")
    if parts[-1] == "":
        if len(parts) == 1:
            return False
        parts.pop()
    last = parts[-1]
    if last and last.isascii() and last.isdigit():
        return True
    return _ipv4_number(last) is not None


def _ipv4_number(text):
    """The value of one part of an IPv4 address (decimal, 0x hex or 0 octal), or None."""
    if not text:
        return None
    radix = 10
    if text[:2] in ("0x", "0X"):
        text, radix = text[2:], 16
    elif len(text) >= 2 and text[0] == "0":
        text, radix = text[1:], 8
    if not text:
        return 0
    digits = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}[radix]
    if any(c not in digits for c in text):
        return None
    return int(text, radix)


def _parse_ipv4(domain):
    parts = domain.split(".")
    if parts[-1] == "":
        parts.pop()
    if len(parts) > 4:
        raise ValueError("invalid IPv4 address")
    numbers = []
    for part in parts:
        number = _ipv4_number(part)
        if number is None or number > 0xFFFFFFFF:
            raise ValueError("invalid IPv4 address")
        numbers.append(number)
    address = numbers.pop()
    if address >= 256 ** (4 - len(numbers)) or any(n > 255 for n in numbers):
        raise ValueError("invalid IPv4 address")
    for i, n in enumerate(numbers):
        address += n << (8 * (3 - i))
    return ".".join(str((address >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def _parse_ipv6(text):
    """The eight pieces of an IPv6 address (the WHATWG IPv6 parser)."""
    pieces, piece, compress, i, n = [0] * 8, 0, None, 0, len(text)
    hex_digits = "0123456789abcdefABCDEF"
    if n < 2:
        raise ValueError("invalid IPv6 address")
    if text[0] == ":":
        if text[1] != ":":
            raise ValueError("invalid IPv6 address")
        i, piece = 2, 1
        compress = piece
    while i < n:
        if piece == 8:
            raise ValueError("invalid IPv6 address")
        if text[i] == ":":
            if compress is not None:
                raise ValueError("invalid IPv6 address")
            i += 1
            piece += 1
            compress = piece
            continue
        value = length = 0
        while length < 4 and i < n and text[i] in hex_digits:
            value = value * 16 + int(text[i], 16)
            i += 1
            length += 1
        if i < n and text[i] == ".":
            if length == 0 or piece > 6:
                raise ValueError("invalid IPv6 address")
            i -= length
            numbers_seen = 0
            while i < n:
                if numbers_seen > 0:
                    if text[i] == "." and numbers_seen < 4:
                        i += 1
                    else:
                        raise ValueError("invalid IPv6 address")
                if i >= n or not "0" <= text[i] <= "9":
                    raise ValueError("invalid IPv6 address")
                number = None
                while i < n and "0" <= text[i] <= "9":
                    digit = ord(text[i]) - 48
                    if number is None:
                        number = digit
                    elif number == 0:
                        raise ValueError("invalid IPv6 address")
                    else:
                        number = number * 10 + digit
                    if number > 255:
                        raise ValueError("invalid IPv6 address")
                    i += 1
                pieces[piece] = pieces[piece] * 0x100 + number
                numbers_seen += 1
                if numbers_seen in (2, 4):
                    piece += 1
            if numbers_seen != 4:
                raise ValueError("invalid IPv6 address")
            break
        if i < n and text[i] == ":":
            i += 1
            if i >= n:
                raise ValueError("invalid IPv6 address")
        elif i < n:
            raise ValueError("invalid IPv6 address")
        pieces[piece] = value
        piece += 1
    if compress is not None:
        swaps, piece = piece - compress, 7
        while piece != 0 and swaps > 0:
            other = compress + swaps - 1
            pieces[piece], pieces[other] = pieces[other], pieces[piece]
            piece -= 1
            swaps -= 1
    elif piece != 8:
        raise ValueError("invalid IPv6 address")
    return pieces


def _serialise_ipv6(pieces):
    # The first longest run of two or more zero pieces is compressed.
    best, best_len, start = -1, 1, -1
    for i in range(9):
        if i < 8 and pieces[i] == 0:
            if start < 0:
                start = i
        elif start >= 0:
            if i - start > best_len:
                best, best_len = start, i - start
            start = -1
    if best < 0:
        return ":".join("%x" % p for p in pieces)
    head = ":".join("%x" % p for p in pieces[:best])
    tail = ":".join("%x" % p for p in pieces[best + best_len :])
    return head + "::" + tail


def _normalise_percent(text):
    """Encoded unreserved characters decoded, the other escapes' hex digits uppercased."""

    def one(match):
        byte = int(match.group(1), 16)
        return chr(byte) if byte in UNRESERVED else "%" + match.group(1).upper()

    return PERCENT_ESCAPE.sub(one, text)


def _normalise(url):
    if "%" not in url.href:
        return url
    path = url.path
    if isinstance(path, str):
        path = _normalise_percent(path)
    else:
        path = [_normalise_percent(s) if "%" in s else s for s in path]
    query = _normalise_percent(url.query) if url.query and "%" in url.query else url.query
    return Url(url.scheme, url.host, url.port, path, query)


def parse_root(text):
    """The root of a crawl, normalised, or a one-line reason why it cannot be one."""
    url = parse_url(text)
    if url is None:
        raise ValueError("invalid URL %r" % text)
    if url.scheme != "http":
        raise ValueError("unsupported scheme %r (only http is crawled)" % url.scheme)
    if not url.host:
        raise ValueError("URL %r has no host" % text)
    return url


# ---------------------------------------------------------------------------------------------
# request.rs: the only thing a fetch ever writes.


def request(url):
    """An HTTP/1.0 GET for `url`, asking the server to close the connection after it."""
    host = url.host + (":%d" % url.port if url.port is not None else "")
    return (
        "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: text/html, */*;q=0.5\r\n"
        "Accept-Encoding: identity\r\nConnection: close\r\n\r\n" % (url.target(), host, USER_AGENT)
    ).encode("ascii")


# ---------------------------------------------------------------------------------------------
# response.rs: one HTTP/1.x response read from pieces of any size. "Need more bytes" is the
# normal state of a response in transit; the head is parsed again as each piece arrives, as
# httparse does, so a malformed head is found as soon as its bad byte is in.

TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
VALUE = rb"[\t\x20-\x7e\x80-\xff]"
STATUS_LINE = re.compile(rb"HTTP/1\.[01] +([0-9]{3})(?: +" + VALUE + rb"*)?\r?\n")


def _prefixes(*parts):
    """A pattern matching every prefix of the sequence `parts` (each a pattern)."""
    pattern = b""
    for part in reversed(parts):
        pattern = b"(?:" + part + pattern + b")?"
    return pattern


# Any beginning of a status line, before its line feed: a head still arriving.
STATUS_PREFIX = re.compile(
    _prefixes(
        *[re.escape(bytes([b])) for b in b"HTTP/1."],
        rb"[01]",
        rb" +",
        rb"[0-9]",
        rb"[0-9]",
        rb"[0-9]",
        rb"(?: +" + VALUE + rb"*)?\r?",
    )
)
HEADER_LINE = re.compile(TOKEN + rb"+[ \t]*:[ \t]*(" + VALUE + rb"*)\r?\n")
HEADER_PREFIX = re.compile(rb"(?:" + TOKEN + rb"+(?:[ \t]*(?::" + VALUE + rb"*\r?)?)?)?")
HEADER_NAME = re.compile(TOKEN + rb"+")
REDIRECTS = frozenset((301, 302, 303, 307, 308))
# What Rust's trim_ascii trims.
ASCII_SPACE = b" \t\n\f\r"
U64_MAX = 2**64 - 1


class Response:
    """A complete response, as the crawl needs it."""

    __slots__ = ("status", "content_type", "location", "body", "body_len")

    def __init__(self, status):
        self.status = status
        self.content_type = None
        self.location = None
        self.body = b""
        self.body_len = 0

    def is_html(self):
        return self.content_type is not None and is_html(self.content_type)


def is_html(content_type):
    """HTML, or XHTML (which an HTML tokenizer reads well enough for links)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in ("text/html", "application/xhtml+xml")


def parse_head(data, max_head):
    """(length, status, headers) of the head at the start of `data`, None while it is partial;
    FetchError when it is malformed or too large."""
    pos, n = 0, len(data)
    # Empty lines before the status line are skipped.
    while pos < n and data[pos] in b"\r\n":
        if data[pos] == 13:
            if pos + 1 >= n:
                return _partial(data, max_head)
            if data[pos + 1] != 10:
                raise FetchError(MALFORMED, "invalid response head")
            pos += 1
        pos += 1
    line_end = data.find(b"\n", pos)
    if line_end < 0:
        if STATUS_PREFIX.fullmatch(data, pos) is None:
            raise FetchError(MALFORMED, "invalid response head")
        return _partial(data, max_head)
    status = STATUS_LINE.fullmatch(data, pos, line_end + 1)
    if status is None:
        raise FetchError(MALFORMED, "invalid response head")
    code = int(status.group(1))
    headers = []
    pos = line_end + 1
    while True:
        if pos >= n:
            return _partial(data, max_head)
        first = data[pos]
        if first == 10 or first == 13:
            if first == 13:
                if pos + 1 >= n:
                    return _partial(data, max_head)
                if data[pos + 1] != 10:
                    raise FetchError(MALFORMED, "invalid response head")
                pos += 1
            length = pos + 1
            if length > max_head:
                raise FetchError(TOO_LARGE, "response head")
            return length, code, headers
        # One header, with the lines folded into it (obsolete line folding).
        start = pos
        while True:
            line_end = data.find(b"\n", pos)
            if line_end < 0:
                if (HEADER_PREFIX if pos == start else FOLDED_PREFIX).fullmatch(data, pos) is None:
                    raise FetchError(MALFORMED, "invalid response head")
                return _partial(data, max_head)
            line = (HEADER_LINE if pos == start else FOLDED_LINE).fullmatch(data, pos, line_end + 1)
            if line is None:
                raise FetchError(MALFORMED, "invalid response head")
            pos = line_end + 1
            if pos >= n:
                return _partial(data, max_head)
            if data[pos] not in b" \t":
                break
        if len(headers) == MAX_HEADERS:
            raise FetchError(TOO_LARGE, "header count")
        name = HEADER_NAME.match(data, start).group()
        value = data[data.index(b":", start) + 1 : pos].strip(b" \t\r\n")
        headers.append((name.lower(), value))


FOLDED_LINE = re.compile(rb"[ \t]" + VALUE + rb"*\r?\n")
FOLDED_PREFIX = re.compile(rb"[ \t]" + VALUE + rb"*\r?")


def _partial(data, max_head):
    if len(data) > max_head:
        raise FetchError(TOO_LARGE, "response head")
    return None


def _list(value):
    """The elements of a comma-separated header list, trimmed, empty ones dropped."""
    elements = (element.strip(ASCII_SPACE) for element in value.split(b","))
    return [element for element in elements if element]


def _content_length(value):
    length = None
    for element in _list(value):
        if not element.isdigit():
            raise FetchError(MALFORMED, "invalid Content-Length")
        number = min(int(element), U64_MAX)
        if length is not None and length != number:
            raise FetchError(MALFORMED, "conflicting Content-Length")
        length = number
    if length is None:
        raise FetchError(MALFORMED, "invalid Content-Length")
    return length


def start_body(status, headers, max_body):
    """The response so far, how its body is delimited ("done", "length", "chunked", "eof"),
    its length, and the codings to undo, in the order they were applied."""
    response = Response(status)
    content_length = None
    codings, transfer_codings = [], []
    for name, value in headers:
        if name == b"content-type":
            response.content_type = value.decode("utf-8", "replace").strip()
        elif name == b"location":
            response.location = CONTROL_BYTES.sub(_escape_byte, value.strip(ASCII_SPACE)).decode(
                "ascii"
            )
        elif name == b"transfer-encoding":
            transfer_codings.extend(_list(value))
        elif name == b"content-encoding":
            codings.extend(_list(value))
        elif name == b"content-length":
            length = _content_length(value)
            if content_length is not None and content_length != length:
                raise FetchError(MALFORMED, "conflicting Content-Length")
            content_length = length
    framing, length = "eof", 0
    if status in (204, 304):
        framing = "done"
    elif transfer_codings:
        # Transfer-Encoding overrides Content-Length, and only its last coding says whether
        # the body is chunked; otherwise the close delimits it.
        if transfer_codings[-1].lower() == b"chunked":
            transfer_codings.pop()
            framing = "chunked"
    elif content_length is not None:
        if content_length > max_body:
            raise FetchError(TOO_LARGE, "body")
        framing, length = ("length", content_length) if content_length else ("done", 0)
    codings.extend(transfer_codings)
    return response, framing, length, [c.decode("latin-1").lower() for c in codings]


CONTROL_BYTES = re.compile(rb"[^\x20-\x7e]")


async def read_response(reader, max_head, max_body):
    """Reads one response from `reader` (4096 bytes at a time) within the limits."""
    data = bytearray()
    interim = False
    while True:
        head = parse_head(data, max_head)
        if head is None:
            piece = await reader.read(CHUNK_SIZE)
            if not piece:
                if not data and not interim:
                    raise FetchError(RESET, "connection closed before any response")
                # After an interim response the server did answer: not worth another try.
                raise FetchError(TRUNCATED, "response head")
            data += piece
            continue
        length, status, headers = head
        if 100 <= status < 200 and status != 101:
            # An interim response (100 Continue): the real head follows.
            del data[:length]
            interim = True
            continue
        break
    response, framing, remaining, codings = start_body(status, headers, max_body)
    # Only a page whose links are followed is kept, and so decoded.
    keep = 200 <= status < 300 and response.is_html()
    body = Body(max_body, keep)
    sink = decoder(codings, body) if keep else body
    reading = Reading(reader, bytes(data[length:]), sink, max_body)
    if framing == "length":
        await reading.length(remaining)
    elif framing == "chunked":
        await reading.chunked(max_head)
    elif framing == "eof":
        await reading.until_eof()
    if reading.coded_len > 0:
        sink.finish()
    response.body = bytes(body.data) if body.data is not None else b""
    response.body_len = body.len
    return response


class Reading:
    """The body of one response as it arrives: unframed, counted, handed to the decoders."""

    def __init__(self, reader, start, sink, max_body):
        self.reader, self.start, self.sink, self.max_body = reader, start, sink, max_body
        self.coded_len = 0

    async def next_piece(self):
        if self.start:
            piece, self.start = self.start, b""
            return piece
        return await self.reader.read(CHUNK_SIZE)

    def take(self, data):
        # Bytes as they arrived are bounded too, so a coded stream that decodes to little
        # cannot run on forever either.
        self.coded_len += len(data)
        if self.coded_len > self.max_body:
            raise FetchError(TOO_LARGE, "body")
        self.sink.write(data)

    async def length(self, remaining):
        while remaining:
            piece = await self.next_piece()
            if not piece:
                raise FetchError(TRUNCATED, "body shorter than Content-Length")
            piece = piece[:remaining]
            self.take(piece)
            remaining -= len(piece)

    async def until_eof(self):
        while True:
            piece = await self.next_piece()
            if not piece:
                return
            self.take(piece)

    async def chunked(self, max_head):
        """The chunked framing, byte by byte as the core reads it; chunk data in bulk."""
        bad = FetchError(MALFORMED, "invalid chunked encoding")
        state, size, line, left, cr, length, total = "size", 0, 0, 0, False, 0, 0
        while True:
            piece = await self.next_piece()
            if not piece:
                raise FetchError(TRUNCATED, "chunked body")
            i, n = 0, len(piece)
            while i < n:
                if state == "data":
                    take = min(left, n - i)
                    self.take(piece[i : i + take])
                    i += take
                    left -= take
                    if left == 0:
                        state, cr = "data-end", False
                    continue
                byte = piece[i]
                i += 1
                if state in ("size", "size-rest"):
                    if line >= max_head:
                        raise FetchError(TOO_LARGE, "response head")
                    if state == "size" and byte in HEX_DIGITS:
                        size = size * 16 + HEX_DIGITS[byte]
                        if size > self.max_body:
                            raise FetchError(TOO_LARGE, "body")
                        line += 1
                    elif state == "size" and line == 0:
                        raise bad
                    elif byte == 10:
                        if size == 0:
                            state, length, total = "trailer", 0, 0
                        elif self.coded_len + size > self.max_body:
                            raise FetchError(TOO_LARGE, "body")
                        else:
                            state, left = "data", size
                    elif state == "size" and byte not in b"\r; \t":
                        raise bad
                    else:
                        state = "size-rest"
                        line += 1
                elif state == "data-end":
                    if byte == 13 and not cr:
                        cr = True
                    elif byte == 10:
                        state, size, line = "size", 0, 0
                    else:
                        raise bad
                else:  # trailer
                    if length == 0 and byte == 10:
                        return
                    if total >= max_head:
                        raise FetchError(TOO_LARGE, "response head")
                    total += 1
                    if byte == 10:
                        length = 0
                    elif byte != 13:
                        length += 1


HEX_DIGITS = {b: int(chr(b), 16) for b in b"0123456789abcdefABCDEF"}


# ---------------------------------------------------------------------------------------------
# decode.rs: gzip and deflate undone as the body arrives; every decoded byte counts against
# --max-body as it comes out, so a gzip bomb costs a few tens of KiB.

INFLATE_STEP = 16 * 1024


class Body:
    """The end of every chain of decoders: counts the bytes and keeps them if asked."""

    def __init__(self, max_body, keep):
        self.data = bytearray() if keep else None
        self.len = 0
        self.max = max_body

    def write(self, data):
        self.len += len(data)
        if self.len > self.max:
            raise FetchError(TOO_LARGE, "body")
        if self.data is not None:
            self.data += data

    def finish(self):
        pass


class Inflate:
    """gzip (members may follow one another) or deflate (a zlib stream, or raw deflate as some
    servers send it: told apart by the first two bytes). Like flate2's decoders, it holds the
    first bytes of a stream until they can be judged: a gzip member's 10-byte header, the two
    bytes that tell zlib from raw deflate."""

    def __init__(self, gzip, next_):
        self.gzip, self.next = gzip, next_
        self.stream = None
        self.start = b""

    def write(self, data):
        try:
            self._inflate(data)
        except zlib.error as err:
            raise FetchError(ENCODING, "undecodable body: %s" % err) from None

    def _open(self, data):
        """Starts a stream once `data` holds its first bytes; False while it does not."""
        if len(data) < (10 if self.gzip else 2):
            return False
        if self.gzip:
            wbits = 31
        else:
            # A zlib header: method 8, a window of at most 32 KiB, a multiple of 31.
            zlib_header = (
                data[0] & 0x0F == 8 and data[0] >> 4 <= 7 and (data[0] << 8 | data[1]) % 31 == 0
            )
            wbits = 15 if zlib_header else -15
        self.stream = zlib.decompressobj(wbits)
        return True

    def _inflate(self, data):
        while True:
            if self.stream is None:
                data, self.start = self.start + data, b""
                if not self._open(data):
                    self.start = data
                    return
            stream = self.stream
            out = stream.decompress(data, INFLATE_STEP)
            if out:
                self.next.write(out)
            if stream.eof:
                data = stream.unused_data
                if not data:
                    return
                if not self.gzip:
                    raise FetchError(ENCODING, "data after the end of the deflate stream")
                # Another gzip member.
                self.stream = None
                continue
            data = stream.unconsumed_tail
            if not data and len(out) < INFLATE_STEP:
                return

    def finish(self):
        if self.stream is None:
            if self.start or not self.gzip:
                raise FetchError(ENCODING, "compressed stream cut short")
            self.next.finish()
            return
        try:
            out = self.stream.flush()
        except zlib.error as err:
            raise FetchError(ENCODING, "undecodable body: %s" % err) from None
        if out:
            self.next.write(out)
        if not self.stream.eof:
            raise FetchError(ENCODING, "compressed stream cut short")
        self.next.finish()


def decoder(codings, body):
    """Decoders for `codings` (in the order applied, so the last is undone first) ending in
    `body`."""
    sink = body
    for coding in codings:
        if coding == "identity":
            continue
        if coding in ("gzip", "x-gzip"):
            sink = Inflate(True, sink)
        elif coding == "deflate":
            sink = Inflate(False, sink)
        elif coding == "chunked":
            raise FetchError(ENCODING, "chunked is not the last transfer coding")
        else:
            raise FetchError(ENCODING, "unsupported coding %s" % coding)
    return sink


# ---------------------------------------------------------------------------------------------
# charset.rs: a page's encoding (byte order mark, Content-Type, <meta> in its first 1024
# bytes, else UTF-8) and its text. Every label of the Encoding Standard is known.

PRESCAN_BYTES = 1024
# The Encoding Standard's labels: an encoding's name, a colon, its labels (lines that start with
# spaces go on with the labels of the line above).
ENCODING_LABELS = """
UTF-8: unicode-1-1-utf-8 unicode11utf8 unicode20utf8 utf-8 utf8 x-unicode20utf8
IBM866: 866 cp866 csibm866 ibm866
ISO-8859-2: csisolatin2 iso-8859-2 iso-ir-101 iso8859-2 iso88592 iso_8859-2 iso_8859-2:1987 l2
            latin2
ISO-8859-3: csisolatin3 iso-8859-3 iso-ir-109 iso8859-3 iso88593 iso_8859-3 iso_8859-3:1988 l3
            latin3
ISO-8859-4: csisolatin4 iso-8859-4 iso-ir-110 iso8859-4 iso88594 iso_8859-4 iso_8859-4:1988 l4
            latin4
ISO-8859-5: csisolatincyrillic cyrillic iso-8859-5 iso-ir-144 iso8859-5 iso88595 iso_8859-5
            iso_8859-5:1988
ISO-8859-6: arabic asmo-708 csiso88596e csiso88596i csisolatinarabic ecma-114 iso-8859-6
            iso-8859-6-e iso-8859-6-i iso-ir-127 iso8859-6 iso88596 iso_8859-6 iso_8859-6:1987
ISO-8859-7: csisolatingreek ecma-118 elot_928 greek greek8 iso-8859-7 iso-ir-126 iso8859-7
            iso88597 iso_8859-7 iso_8859-7:1987 sun_eu_greek
ISO-8859-8: csiso88598e csisolatinhebrew hebrew iso-8859-8 iso-8859-8-e iso-ir-138 iso8859-8
            iso88598 iso_8859-8 iso_8859-8:1988 visual
ISO-8859-8-I: csiso88598i iso-8859-8-i logical
ISO-8859-10: csisolatin6 iso-8859-10 iso-ir-157 iso8859-10 iso885910 l6 latin6
ISO-8859-13: iso-8859-13 iso8859-13 iso885913
ISO-8859-14: iso-8859-14 iso8859-14 iso885914
ISO-8859-15: csisolatin9 iso-8859-15 iso8859-15 iso885915 iso_8859-15 l9
ISO-8859-16: iso-8859-16
KOI8-R: cskoi8r koi koi8 koi8-r koi8_r
KOI8-U: koi8-ru koi8-u
macintosh: csmacintosh mac macintosh x-mac-roman
windows-874: dos-874 iso-8859-11 iso8859-11 iso885911 tis-620 windows-874
windows-1250: cp1250 windows-1250 x-cp1250
windows-1251: cp1251 windows-1251 x-cp1251
windows-1252: ansi_x3.4-1968 ascii cp1252 cp819 csisolatin1 ibm819 iso-8859-1 iso-ir-100
              iso8859-1 iso88591 iso_8859-1 iso_8859-1:1987 l1 latin1 us-ascii windows-1252
              x-cp1252
windows-1253: cp1253 windows-1253 x-cp1253
windows-1254: cp1254 csisolatin5 iso-8859-9 iso-ir-148 iso8859-9 iso88599 iso_8859-9
              iso_8859-9:1989 l5 latin5 windows-1254 x-cp1254
windows-1255: cp1255 windows-1255 x-cp1255
windows-1256: cp1256 windows-1256 x-cp1256
windows-1257: cp1257 windows-1257 x-cp1257
windows-1258: cp1258 windows-1258 x-cp1258
x-mac-cyrillic: x-mac-cyrillic x-mac-ukrainian
GBK: chinese csgb2312 csiso58gb231280 gb2312 gb_2312 gb_2312-80 gbk iso-ir-58 x-gbk
gb18030: gb18030
Big5: big5 big5-hkscs cn-big5 csbig5 x-x-big5
EUC-JP: cseucpkdfmtjapanese euc-jp x-euc-jp
ISO-2022-JP: csiso2022jp iso-2022-jp
Shift_JIS: csshiftjis ms932 ms_kanji shift-jis shift_jis sjis windows-31j x-sjis
EUC-KR: cseuckr csksc56011987 euc-kr iso-ir-149 korean ks_c_5601-1987 ks_c_5601-1989 ksc5601
        ksc_5601 windows-949
replacement: csiso2022kr hz-gb-2312 iso-2022-cn iso-2022-cn-ext iso-2022-kr replacement
UTF-16BE: unicodefffe utf-16be
UTF-16LE: csunicode iso-10646-ucs-2 ucs-2 unicode unicodefeff utf-16 utf-16le
x-user-defined: x-user-defined
"""
LABELS = {
    label: name
    for name, labels in re.findall(r"^(\S+): (.*(?:\n .*)*)", ENCODING_LABELS, re.M)
    for label in labels.split()
}
# Python's codec for each encoding of the standard; single-byte ones are decoded with a table
# built from it (see SingleByte).
SINGLE_BYTE_CODECS = {
    "IBM866": "cp866",
    "ISO-8859-2": "iso8859_2",
    "ISO-8859-3": "iso8859_3",
    "ISO-8859-4": "iso8859_4",
    "ISO-8859-5": "iso8859_5",
    "ISO-8859-6": "iso8859_6",
    "ISO-8859-7": "iso8859_7",
    "ISO-8859-8": "iso8859_8",
    "ISO-8859-8-I": "iso8859_8",
    "ISO-8859-10": "iso8859_10",
    "ISO-8859-13": "iso8859_13",
    "ISO-8859-14": "iso8859_14",
    "ISO-8859-15": "iso8859_15",
    "ISO-8859-16": "iso8859_16",
    "KOI8-R": "koi8_r",
    "KOI8-U": "koi8_u",
    "macintosh": "mac_roman",
    "windows-874": "cp874",
    "windows-1250": "cp1250",
    "windows-1251": "cp1251",
    "windows-1252": "cp1252",
    "windows-1253": "cp1253",
    "windows-1254": "cp1254",
    "windows-1255": "cp1255",
    "windows-1256": "cp1256",
    "windows-1257": "cp1257",
    "windows-1258": "cp1258",
    "x-mac-cyrillic": "mac_cyrillic",
}
# Where the standard's tables differ from Python's codecs beyond the C1 rule of SingleByte.
SINGLE_BYTE_FIXES = {"KOI8-U": {0xAE: "\u045e", 0xBE: "\u040e"}, "windows-1255": {0xCA: "\u05ba"}}
MULTI_BYTE_CODECS = {
    "GBK": ("gb18030", "gbk"),
    "gb18030": ("gb18030", "gb18030"),
    "Big5": ("big5hkscs", "big5hkscs"),
    "EUC-JP": ("euc_jp", "euc_jp"),
    "ISO-2022-JP": ("iso2022_jp", "iso2022_jp"),
    "Shift_JIS": ("cp932", "cp932"),
    "EUC-KR": ("cp949", "cp949"),
}


class Encoding:
    """One encoding of the Encoding Standard: how to decode a page, and how to encode a query
    (`utf8_urls`: its URLs are UTF-8, as for UTF-8 and UTF-16 pages)."""

    def __init__(self, name):
        self.name = name
        self.utf8_urls = name in ("UTF-8", "UTF-16BE", "UTF-16LE", "replacement")
        if name in SINGLE_BYTE_CODECS:
            # The standard maps the bytes 0x80-0x9F a Windows code page leaves undefined to
            # the C1 controls of the same number; Python's codecs refuse them.
            table = {}
            for byte in range(0x80, 0x100):
                try:
                    table[byte] = bytes([byte]).decode(SINGLE_BYTE_CODECS[name])
                except UnicodeDecodeError:
                    table[byte] = chr(byte) if byte < 0xA0 else "\ufffd"
            table.update(SINGLE_BYTE_FIXES.get(name, {}))
            self.table = table
            self.reverse = {c: byte for byte, c in table.items() if c != "\ufffd"}
        elif name == "x-user-defined":
            self.table = {byte: chr(0xF780 + byte - 0x80) for byte in range(0x80, 0x100)}
            self.reverse = {c: byte for byte, c in self.table.items()}
        else:
            self.table = None

    def decode(self, data):
        if self.table is not None:
            # latin-1 turns each byte into the code point of its value, which the table maps.
            return data.decode("latin-1").translate(self.table)
        if self.name == "UTF-8":
            return data.decode("utf-8", "replace")
        if self.name == "UTF-16LE":
            return data.decode("utf-16-le", "replace")
        if self.name == "UTF-16BE":
            return data.decode("utf-16-be", "replace")
        if self.name == "replacement":
            return "\ufffd" if data else ""
        return data.decode(MULTI_BYTE_CODECS[self.name][0], "replace")

    def encode(self, text):
        """`text` in this encoding; characters it lacks become `&#NNNN;`."""
        if self.table is not None:
            out = bytearray()
            for c in text:
                if c < "\x80":
                    out.append(ord(c))
                elif c in self.reverse:
                    out.append(self.reverse[c])
                else:
                    out += b"&#%d;" % ord(c)
            return bytes(out)
        if self.name == "GBK" and "\u20ac" in text:
            # The standard's GBK encoder writes the euro sign as one byte; Python's does not.
            return b"\x80".join(self.encode(part) for part in text.split("\u20ac"))
        return text.encode(MULTI_BYTE_CODECS[self.name][1], "xmlcharrefreplace")


ENCODINGS = {}


def encoding_for_label(label):
    """The encoding a label names (ASCII whitespace trimmed, any case), or None."""
    name = LABELS.get(label.strip("\t\n\f\r ").lower()) if label.isascii() else None
    if name is None:
        return None
    if name not in ENCODINGS:
        ENCODINGS[name] = Encoding(name)
    return ENCODINGS[name]


UTF8 = encoding_for_label("utf-8")


def decode_page(body, content_type):
    """The page's text and its encoding: BOM, else Content-Type, else <meta>, else UTF-8."""
    for bom, label in (
        (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe", "utf-16le"),
        (b"\xfe\xff", "utf-16be"),
    ):
        if body.startswith(bom):
            encoding = encoding_for_label(label)
            return encoding.decode(body[len(bom) :]), encoding
    label = _charset_parameter(content_type) if content_type else None
    encoding = (encoding_for_label(label) if label is not None else None) or _prescan(body) or UTF8
    if encoding is UTF8:
        return body.decode("utf-8", "replace"), encoding
    return encoding.decode(body), encoding


def _charset_parameter(content_type):
    for parameter in content_type.split(";")[1:]:
        name, equals, value = parameter.partition("=")
        if equals and name.strip().lower() == "charset":
            return value.strip().strip('"')
    return None


def _prescan(body):
    label = extract_links(body[:PRESCAN_BYTES].decode("utf-8", "replace")).charset
    encoding = encoding_for_label(label) if label is not None else None
    if encoding is None:
        return None
    # The page is read as ASCII to find the declaration, so it cannot be UTF-16; and
    # x-user-defined is read as windows-1252 (the prescan's own rules).
    if encoding.name in ("UTF-16BE", "UTF-16LE"):
        return UTF8
    if encoding.name == "x-user-defined":
        return encoding_for_label("windows-1252")
    return encoding


def _from_meta_content(content):
    """The label after `charset=` in a <meta http-equiv=Content-Type> content attribute."""
    lower = content.translate(ASCII_LOWER)
    start = 0
    while True:
        at = lower.find("charset", start)
        if at < 0:
            return None
        start = at + 7
        rest = content[start:].lstrip()
        if not rest.startswith("="):
            continue
        rest = rest[1:].lstrip()
        if not rest:
            return None
        if rest[0] in "\"'":
            end = rest.find(rest[0], 1)
            return rest[1:end] or None if end >= 0 else None
        return re.split("[ \t\n\r;]", rest, maxsplit=1)[0] or None


# ---------------------------------------------------------------------------------------------
# links.rs: <a href> (or SVG's <a xlink:href>) and <area href>, resolved against the first
# <base href>; nothing inside comments, scripts, styles or other raw text; <noscript> read as
# markup, as a browser without scripts reads it. The tokenizer follows the WHATWG one (and
# html5gum's choice of raw-text elements) as far as finding tags and attribute values needs.

TAG_NAME = re.compile(r"[^\t\n\f />]*")
ATTRIBUTE_NAME = re.compile(r"[^\t\n\f />][^\t\n\f />=]*")
SPACE_OR_SLASH = re.compile(r"[\t\n\f /]*")
SPACES = re.compile(r"[\t\n\f ]*")
UNQUOTED = re.compile(r"[^\t\n\f >]*")
ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
ASCII_ALPHA = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
RAW_TEXT = {
    "textarea": "rcdata",
    "title": "rcdata",
    "plaintext": "plaintext",
    "script": "script",
    "style": "rawtext",
    "iframe": "rawtext",
    "xmp": "rawtext",
    "noembed": "rawtext",
    # html5gum's list says noframe, not noframes; the crawler follows html5gum.
    "noframe": "rawtext",
}
END_OF_RAW_TEXT = {
    name: re.compile(r"</" + name + r"[\t\n\f />]", re.I | re.A) for name in RAW_TEXT
}
SCRIPT_DATA = re.compile(r"<!--|</script[\t\n\f />]", re.I | re.A)
SCRIPT_ESCAPED = re.compile(r"-->|</script[\t\n\f />]|<script[\t\n\f />]", re.I | re.A)
SCRIPT_DOUBLE_ESCAPED = re.compile(r"-->|</script[\t\n\f />]", re.I | re.A)
WANTED = frozenset(("href", "xlink:href", "charset", "http-equiv", "content"))
CHARACTER_REFERENCE = re.compile(r"&(?:#[xX]([0-9A-Fa-f]+);?|#([0-9]+);?|([0-9A-Za-z]+)(;?))")
NAMED = html.entities.html5
# Numeric references to these bytes mean what windows-1252 means by them.
C1_REPLACEMENTS = {
    0x80: "\u20ac", 0x82: "\u201a", 0x83: "\u0192", 0x84: "\u201e", 0x85: "\u2026", 0x86: "\u2020",
    0x87: "\u2021", 0x88: "\u02c6", 0x89: "\u2030", 0x8A: "\u0160", 0x8B: "\u2039", 0x8C: "\u0152",
    0x8E: "\u017d", 0x91: "\u2018", 0x92: "\u2019", 0x93: "\u201c", 0x94: "\u201d", 0x95: "\u2022",
    0x96: "\u2013", 0x97: "\u2014", 0x98: "\u02dc", 0x99: "\u2122", 0x9A: "\u0161", 0x9B: "\u203a",
    0x9C: "\u0153", 0x9E: "\u017e", 0x9F: "\u0178",
}  # fmt: skip


class Links:
    """What a page links to, before resolution: the first <base href>, every <a>/<area> href
    in document order, and the label of the first <meta> declaring a charset."""

    __slots__ = ("base", "hrefs", "charset", "charset_seen")

    def __init__(self):
        self.base, self.hrefs, self.charset, self.charset_seen = None, [], None, False


def _numeric_reference(value):
    if value == 0 or value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        return "\ufffd"
    return C1_REPLACEMENTS.get(value) or chr(value)


def _reference(match):
    hex_digits, decimal, name, semicolon = match.groups()
    if hex_digits is not None:
        return _numeric_reference(int(hex_digits, 16))
    if decimal is not None:
        return _numeric_reference(int(decimal))
    # In an attribute a named reference is decoded when it ends with ';', or when it is one of
    # the legacy names that may go without and no '=' follows (`?a=1&copy=2` stays as it is).
    if semicolon and name + ";" in NAMED:
        return NAMED[name + ";"]
    if name in NAMED and (semicolon or not match.string.startswith("=", match.end())):
        return NAMED[name] + semicolon
    return match.group()


def attribute_value(raw):
    """An attribute value with its character references decoded, as in an attribute."""
    if "\0" in raw:
        raw = raw.replace("\0", "\ufffd")
    if "&" not in raw:
        return raw
    return CHARACTER_REFERENCE.sub(_reference, raw)


def _read_tag(text, pos):
    """The tag whose name starts at `pos`: (name, the wanted attributes' raw values, where it
    ends), or None if the document ends inside it."""
    n = len(text)
    match = TAG_NAME.match(text, pos)
    name = match.group().translate(ASCII_LOWER)
    pos = match.end()
    attributes = {}
    while True:
        pos = SPACE_OR_SLASH.match(text, pos).end()
        if pos >= n:
            return None
        if text[pos] == ">":
            return name, attributes, pos + 1
        match = ATTRIBUTE_NAME.match(text, pos)
        attribute = match.group().translate(ASCII_LOWER)
        pos = SPACES.match(text, match.end()).end()
        value = ""
        if pos < n and text[pos] == "=":
            pos = SPACES.match(text, pos + 1).end()
            if pos >= n:
                return None
            quote = text[pos]
            if quote == '"' or quote == "'":
                end = text.find(quote, pos + 1)
                if end < 0:
                    return None
                value, pos = text[pos + 1 : end], end + 1
            elif quote != ">":
                match = UNQUOTED.match(text, pos)
                value, pos = match.group(), match.end()
        # The first attribute of a name counts, as in a browser.
        if attribute in WANTED and attribute not in attributes:
            attributes[attribute] = value


def _end_of_script(text, pos):
    """Where the `</script` that ends the script data starting at `pos` begins, or -1."""
    state = "data"
    while True:
        pattern = {"data": SCRIPT_DATA, "escaped": SCRIPT_ESCAPED}.get(state, SCRIPT_DOUBLE_ESCAPED)
        match = pattern.search(text, pos)
        if match is None:
            return -1
        found = match.group()
        if found == "<!--":
            # "<!--" then "-->" may share their dashes ("<!-->").
            state, pos = "escaped", match.start() + 2
        elif found == "-->":
            state, pos = "data", match.end()
        elif found[1] == "/":
            if state != "double-escaped":
                return match.start()
            state, pos = "escaped", match.end()
        else:
            state, pos = "double-escaped", match.end()


def extract_links(text):
    """The links of a page's text. Never fails: any text gives some (maybe empty) answer."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    links = Links()
    n = len(text)
    pos = 0
    while True:
        lt = text.find("<", pos)
        if lt < 0 or lt + 1 >= n:
            return links
        c = text[lt + 1]
        if c in ASCII_ALPHA:
            tag = _read_tag(text, lt + 1)
            if tag is None:
                return links
            name, attributes, pos = tag
            _start_tag(links, name, attributes)
            raw = RAW_TEXT.get(name)
            if raw is None:
                continue
            if raw == "plaintext":
                return links
            end = _end_of_script(text, pos) if raw == "script" else -1
            if raw != "script":
                match = END_OF_RAW_TEXT[name].search(text, pos)
                end = match.start() if match else -1
            if end < 0:
                return links
            tag = _read_tag(text, end + 2)
            if tag is None:
                return links
            pos = tag[2]
        elif c == "/":
            after = text[lt + 2 : lt + 3]
            if after and after in ASCII_ALPHA:
                tag = _read_tag(text, lt + 2)
                if tag is None:
                    return links
                pos = tag[2]
            elif after == ">":
                pos = lt + 3
            elif not after:
                return links
            else:
                pos = _after_bogus_comment(text, lt + 2)
        elif c == "!":
            if text.startswith("--", lt + 2):
                pos = _after_comment(text, lt + 4)
            else:
                # A doctype, CDATA (a bogus comment outside foreign content) or a bogus
                # comment: each ends at the first '>'.
                pos = _after_bogus_comment(text, lt + 2)
        elif c == "?":
            pos = _after_bogus_comment(text, lt + 1)
        else:
            pos = lt + 1
        if pos < 0:
            return links


def _after_bogus_comment(text, pos):
    end = text.find(">", pos)
    return end + 1 if end >= 0 else -1


def _after_comment(text, body):
    if text.startswith(">", body):
        return body + 1
    if text.startswith("->", body):
        return body + 2
    ends = [at for at in (text.find("-->", body), text.find("--!>", body)) if at >= 0]
    if not ends:
        return -1
    end = min(ends)
    return end + (3 if text.startswith("-->", end) else 4)


def _start_tag(links, name, attributes):
    if name == "a":
        # An SVG <a> may link with xlink:href; href wins where both are given.
        href = attributes.get("href", attributes.get("xlink:href"))
        if href is not None:
            links.hrefs.append(attribute_value(href))
    elif name == "area":
        if "href" in attributes:
            links.hrefs.append(attribute_value(attributes["href"]))
    elif name == "base":
        if links.base is None and "href" in attributes:
            links.base = attribute_value(attributes["href"])
    elif name == "meta" and links.charset is None:
        # The first <meta> that declares an encoding is the page's.
        charset = None
        if "charset" in attributes:
            charset = attribute_value(attributes["charset"]).strip()
        elif "http-equiv" in attributes and "content" in attributes:
            if (
                attribute_value(attributes["http-equiv"]).strip().translate(ASCII_LOWER)
                == "content-type"
            ):
                charset = _from_meta_content(attribute_value(attributes["content"]).strip())
        links.charset = charset or None


# ---------------------------------------------------------------------------------------------
# crawler.rs: the frontier and the records, and the lecture's worker coroutines on a queue.


class Page:
    """A response reduced to what the frontier needs."""

    __slots__ = ("status", "bytes", "html", "links", "redirect")

    def __init__(self, response):
        self.status = response.status
        self.bytes = response.body_len
        self.html = False
        self.links = []
        self.redirect = None


def finish(url, response):
    """Turns a response into a Page: parses the links of an HTML page, resolves a redirect."""
    page = Page(response)
    if response.status in REDIRECTS:
        if response.location is not None:
            # The reader left the Location all ASCII: its raw bytes are percent-encoded as
            # they came, UTF-8 or not.
            page.redirect = parse_url(response.location, url, UTF8)
    elif 200 <= response.status < 300 and response.is_html():
        page.html = True
        text, encoding = decode_page(response.body, response.content_type)
        links = extract_links(text)
        base = url
        if links.base is not None:
            base = parse_url(links.base, url, encoding) or url
        for href in links.hrefs:
            link = parse_url(href, base, encoding)
            if link is not None:
                page.links.append(link)
    return page


if hasattr(asyncio, "timeout"):

    async def within(seconds, awaitable):
        """`awaitable`, or TimeoutError once `seconds` have passed (Python 3.11+: no task)."""
        async with asyncio.timeout(seconds):
            return await awaitable

else:

    async def within(seconds, awaitable):
        """`awaitable`, or TimeoutError once `seconds` have passed."""
        return await asyncio.wait_for(awaitable, seconds)


class Crawler:
    """The crawl: a queue of URLs, the URLs seen, the records; `concurrency` workers."""

    def __init__(self, root, host, port, args):
        self.root = root
        self.host, self.port = host, port
        self.concurrency = args.concurrency
        self.max_redirects = args.max_redirects
        self.max_tries = args.max_tries
        self.timeout = args.timeout_ms / 1000
        self.max_body = args.max_body
        self.q = asyncio.Queue()
        # Every URL met, with the fewest redirects that led to it.
        self.seen = {}
        # Where each redirect fetched so far pointed, to pass a shorter count on.
        self.redirects = {}
        # URL → (status, bytes, html, tries, latency in seconds or None).
        self.records = {}
        self.in_flight = 0
        self.peak_in_flight = 0
        self.enqueue(root, 0)

    async def crawl(self):
        """Runs the workers until every URL queued has been fetched."""
        workers = [asyncio.ensure_future(self.work()) for _ in range(self.concurrency)]
        await self.q.join()
        for worker in workers:
            worker.cancel()
        # A worker that failed (a bug, not a fetch) says so instead of vanishing.
        for worker in workers:
            if worker.done() and not worker.cancelled() and worker.exception() is not None:
                raise worker.exception()

    async def work(self):
        while True:
            url = await self.q.get()
            try:
                await self.fetch(url)
            finally:
                self.q.task_done()

    async def fetch(self, url):
        """Fetches `url`, trying transport failures again up to --max-tries times."""
        loop = asyncio.get_running_loop()
        tries = 0
        while True:
            tries += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            started = loop.time()
            try:
                result = await within(self.timeout, self.fetch_once(url))
            except FetchError as err:
                result = err
            except asyncio.TimeoutError:
                result = FetchError(TIMEOUT, "timed out")
            latency = loop.time() - started
            if isinstance(result, Response):
                result = finish(url, result)
            self.in_flight -= 1
            if (
                isinstance(result, FetchError)
                and result.kind in RETRYABLE
                and tries < self.max_tries
            ):
                continue
            self.complete(url, tries, latency, result)
            return

    async def fetch_once(self, url):
        """One try: connect, send the request, read the response."""
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except TimeoutError:
            raise FetchError(TIMEOUT, "timed out") from None
        except OSError as err:
            raise FetchError(CONNECT, "connect failed: %s" % err) from None
        try:
            writer.write(request(url))
            await writer.drain()
            return await read_response(reader, MAX_HEAD, self.max_body)
        except TimeoutError:
            raise FetchError(TIMEOUT, "timed out") from None
        except OSError as err:
            raise FetchError(RESET, "connection reset: %s" % err) from None
        finally:
            writer.close()

    def complete(self, url, tries, latency, result):
        """Records what a fetch ended with and queues what it found."""
        if isinstance(result, FetchError):
            self.records[url.href] = ("error:" + result.kind, 0, False, tries, latency)
            return
        for link in result.links:
            self.enqueue(link, 0)
        if result.redirect is not None:
            redirects = self.seen.get(url.href, -1) + 1
            self.redirects[url.href] = result.redirect
            self.enqueue(result.redirect, redirects)
        self.records[url.href] = (str(result.status), result.bytes, result.html, tries, latency)

    def enqueue(self, url, redirects):
        """Marks `url` seen, reached through `redirects` redirects; queues it if it is in
        scope, records why not otherwise. Returns whether the URL was new."""
        key = url.href
        fewest = self.seen.get(key)
        if fewest is not None:
            if redirects < fewest:
                self.seen[key] = redirects
                self.reached_sooner(url, fewest, redirects)
            return False
        self.seen[key] = redirects
        if url.scheme != "http" or url.origin() != self.root.origin():
            self.records[key] = ("error:" + SKIPPED, 0, False, 0, None)
        elif redirects > self.max_redirects:
            self.records[key] = ("error:" + REDIRECT_LIMIT, 0, False, 0, None)
        elif len(key) > MAX_URL_LEN:
            self.records[key] = ("error:" + TOO_LARGE, 0, False, 0, None)
        else:
            self.q.put_nowait(url)
        return True

    def reached_sooner(self, url, before, redirects):
        """`url`, seen before through `before` redirects, is now reached through fewer: one
        refused for its chain is fetched after all; a redirect already fetched passes the
        count on."""
        if before > self.max_redirects >= redirects:
            record = self.records.get(url.href)
            if record is not None and record[0] == "error:" + REDIRECT_LIMIT:
                del self.records[url.href]
                self.q.put_nowait(url)
        elif url.href in self.redirects:
            self.enqueue(self.redirects[url.href], redirects + 1)


# ---------------------------------------------------------------------------------------------
# report.rs: the JSON report, field for field, and the process's own usage (measure.rs).


def latency_ms(samples):
    """Percentiles (nearest rank) of `samples` (seconds), in milliseconds."""
    if not samples:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0}
    samples = sorted(samples)
    n = len(samples)

    def rank(p):
        return samples[min(max(math.ceil(p * n), 1), n) - 1] * 1e3

    return {"p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99), "max": rank(1.0)}


def report(crawler, elapsed):
    status_counts, error_counts = {}, {}
    fetched = pages = errors = skipped = retries = body_bytes = 0
    latencies = []
    for status, size, html_page, tries, latency in crawler.records.values():
        body_bytes += size
        retries += max(tries - 1, 0)
        if latency is not None:
            latencies.append(latency)
        if status.startswith("error:"):
            kind = status[6:]
            if kind == SKIPPED:
                skipped += 1
            else:
                errors += 1
            error_counts[kind] = error_counts.get(kind, 0) + 1
        else:
            fetched += 1
            pages += html_page
            status_counts[status] = status_counts.get(status, 0) + 1
    return {
        "strategy": STRATEGY,
        "root": crawler.root.href,
        "concurrency": crawler.concurrency,
        "peak_in_flight": crawler.peak_in_flight,
        "urls": len(crawler.records),
        "fetched": fetched,
        "pages": pages,
        "errors": errors,
        "skipped": skipped,
        "retries": retries,
        "bytes": body_bytes,
        "elapsed_s": elapsed,
        "pages_per_s": fetched / elapsed if elapsed > 0 else 0.0,
        "status_counts": dict(sorted(status_counts.items())),
        "error_counts": dict(sorted(error_counts.items())),
        "latency_ms": latency_ms(latencies),
        "work_digest": 0,
        "loop_lag_ms": None,
    }


def urls_out(crawler):
    """One `STATUS<TAB>URL` line per URL, sorted by URL."""
    return "".join("%s\t%s\n" % (crawler.records[url][0], url) for url in sorted(crawler.records))


def current_rss_kib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024


class Sampler(threading.Thread):
    """Every 10 ms, on a thread of its own as in `c10k crawl`: the in-flight count, and the
    resident memory when it is the widest yet."""

    def __init__(self):
        super().__init__(daemon=True)
        self.crawler = None
        self.stopped = threading.Event()
        self.widest = 0
        self.rss_at_widest = 0

    def watch(self, crawler):
        self.crawler = crawler
        self.start()

    def run(self):
        while not self.stopped.is_set():
            in_flight = self.crawler.in_flight
            if in_flight >= self.widest:
                rss = current_rss_kib()
                self.rss_at_widest = (
                    rss if in_flight > self.widest else max(self.rss_at_widest, rss)
                )
                self.widest = in_flight
            self.stopped.wait(SAMPLE_EVERY_S)

    def stop(self):
        """Stops sampling: the widest in-flight count seen, and the RSS then (KiB)."""
        self.stopped.set()
        if self.crawler is not None:
            self.join()
        return self.widest, self.rss_at_widest


def process_usage(sampler):
    usage = resource.getrusage(resource.RUSAGE_SELF)
    widest, rss_at_widest = sampler
    return {
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "max_rss_kib": usage.ru_maxrss,
        "voluntary_switches": usage.ru_nvcsw,
        "involuntary_switches": usage.ru_nivcsw,
        "sampled_in_flight": widest,
        "rss_kib_at_widest": rss_at_widest,
    }


def summary(report_):
    latency = report_["latency_ms"]
    lines = [
        "%s crawled %s at concurrency %d (%d at most in flight): %d URLs, %d responses (%d pages), "
        "%d errors, %d skipped, %d retries"
        % (
            report_["strategy"],
            report_["root"],
            report_["concurrency"],
            report_["peak_in_flight"],
            report_["urls"],
            report_["fetched"],
            report_["pages"],
            report_["errors"],
            report_["skipped"],
            report_["retries"],
        ),
        "%.3f s, %.0f responses/s, %d body bytes; latency ms p50 %.1f p90 %.1f p99 %.1f max %.1f"
        % (
            report_["elapsed_s"],
            report_["pages_per_s"],
            report_["bytes"],
            latency["p50"],
            latency["p90"],
            latency["p99"],
            latency["max"],
        ),
        "status: " + ", ".join("%s: %d" % item for item in report_["status_counts"].items()),
    ]
    if report_["error_counts"]:
        lines.append(
            "errors: " + ", ".join("%s: %d" % item for item in report_["error_counts"].items())
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The command line: what `c10k crawl` takes that the sweep passes.


class Usage(Exception):
    """A mistake in the arguments: one line on stderr, exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message):
        raise Usage(message)


def count(minimum, limit):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a whole number" % text) from None
        if value < minimum:
            raise argparse.ArgumentTypeError("must be at least %d, not %d" % (minimum, value))
        if value > limit:
            raise argparse.ArgumentTypeError("%d is too large" % value)
        return value

    return parse


def parse_args(argv):
    parser = ArgumentParser(prog="crawl.py", description=__doc__.split("\n", 1)[0])
    parser.add_argument("url", help="root URL (http only); its origin is the scope of the crawl")
    parser.add_argument(
        "--concurrency", type=count(1, U64_MAX), default=100, help="fetches in flight at once"
    )
    parser.add_argument(
        "--max-redirects",
        type=count(0, 2**32 - 1),
        default=10,
        help="redirects one chain may follow",
    )
    parser.add_argument(
        "--max-tries",
        type=count(1, 2**32 - 1),
        default=4,
        help="tries per URL for transport failures",
    )
    parser.add_argument(
        "--timeout-ms", type=count(1, U64_MAX), default=10_000, help="deadline of one fetch, in ms"
    )
    parser.add_argument(
        "--max-body",
        type=count(0, U64_MAX),
        default=10 * 1024 * 1024,
        help="largest body, in bytes",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the JSON report instead of a summary"
    )
    parser.add_argument(
        "--urls-out", metavar="FILE", help="write one sorted STATUS<TAB>URL line per URL"
    )
    return parser.parse_args(argv)


def raise_fd_limit():
    """Raises the open-file limit to its hard limit, as `c10k crawl` does; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def main(argv=None):
    try:
        args = parse_args(argv)
        try:
            root = parse_root(args.url)
        except ValueError as err:
            raise Usage(str(err)) from None
        try:
            port = root.port if root.port is not None else 80
            host = socket.getaddrinfo(root.host.strip("[]"), port, type=socket.SOCK_STREAM)[0][4][0]
        except (OSError, IndexError) as err:
            raise Usage("cannot resolve %s: %s" % (root.host, err)) from None
        if args.urls_out:
            try:
                open(args.urls_out, "w").close()
            except OSError as err:
                raise Usage("cannot write --urls-out %s: %s" % (args.urls_out, err)) from None
        fd_limit = raise_fd_limit()
        budget = fd_limit - 64
        if budget <= 0:
            raise Usage(
                "the open-file limit (%d) leaves no descriptor for connections; "
                "raise it (ulimit -n)" % fd_limit
            )
    except Usage as err:
        print("error: %s" % err, file=sys.stderr)
        return 2
    if args.concurrency > budget:
        print(
            "warning: concurrency %d needs more descriptors than the limit (%d) allows; using %d"
            % (args.concurrency, fd_limit, budget),
            file=sys.stderr,
        )
        args.concurrency = budget

    sampler = Sampler()

    async def crawl():
        crawler = Crawler(root, host, port, args)
        sampler.watch(crawler)
        await crawler.crawl()
        return crawler

    started = time.monotonic()
    crawler = asyncio.run(crawl())
    elapsed = time.monotonic() - started
    sampled = sampler.stop()

    if args.urls_out:
        with open(args.urls_out, "w") as out:
            out.write(urls_out(crawler))
    report_ = report(crawler, elapsed)
    if args.json:
        report_["process"] = process_usage(sampled)
        print(json.dumps(report_, indent=2))
    else:
        sys.stdout.write(summary(report_))
    root_status = crawler.records.get(root.href, ("error:" + SKIPPED,))[0]
    if root_status.startswith("error:"):
        print(
            "error: the root %s could not be fetched (%s)" % (root.href, root_status),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
