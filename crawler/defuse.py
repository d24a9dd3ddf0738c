"""Make an untrusted feed body safe and unambiguous before an XML parser sees it.

feedparser refuses external entities, but when expat gives up, its lenient parser expands
the internal ones: a small document can grow to gigabytes. So a body is size-capped,
a gzip body that arrived without Content-Encoding is inflated (with a cap), the text is
decoded once here (BOM, HTTP charset, XML declaration, then a guess), the DOCTYPE and its
internal subset are removed, and the parser gets UTF-8 whose XML declaration says so.
Entity references left without a declaration stay literal text.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
import zlib
from dataclasses import dataclass

import charset_normalizer

from crawler.errors import ParseError

GZIP_MAGIC = b"\x1f\x8b"
HTML_ROOTS = frozenset({"html", "head", "body"})
FEED_ROOTS = frozenset({"rss", "feed", "rdf", "channel"})
UTF8_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>'

# Characters XML 1.0 forbids; expat stops at the first one, so they would push an otherwise
# fine feed onto the lenient path.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_XML_DECLARATION = re.compile(r"<\?xml\s[^>]*?\?>")
_NAME = re.compile(r"[A-Za-z_][\w.:-]*")
# Inside a markup declaration, quoted literals, comments and PIs are skipped whole (a '>' or
# ']' inside them does not end the declaration).
_DECL_MARK = re.compile(r"[\"'\[\]>]|<!--|<\?")
_DECL_SKIP = {'"': '"', "'": "'", "<!--": "-->", "<?": "?>"}
_DOCTYPE_HTML = re.compile(r"<!doctype\s+html\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SafeBody:
    """A body ready for the XML parser, and what was learnt on the way."""

    data: bytes  # UTF-8, no DOCTYPE, XML declaration naming utf-8
    encoding: str  # the encoding the original bytes were decoded from
    root: str | None  # lower-case local name of the first element, None if there is none
    looks_html: bool  # the document is an HTML page rather than a feed
    notes: tuple[str, ...]  # things a reader of the warning should know


def defuse_body(
    body: bytes, *, where: str, content_type: str | None = None, max_bytes: int
) -> SafeBody:
    """Check, inflate, decode and de-DOCTYPE ``body``; ParseError (naming ``where``) if hopeless."""
    if len(body) > max_bytes:
        raise ParseError(
            f"{where}: body is {len(body):,} bytes, over the {max_bytes:,}-byte limit",
            hint="the URL may serve a file or an archive rather than a feed",
        )
    notes: list[str] = []
    if body[:2] == GZIP_MAGIC:
        body = gunzip_capped(body, where=where, max_bytes=max_bytes, notes=notes)
    if not body.strip():
        raise ParseError(
            f"{where}: empty body", hint="the server answered without content; check the URL"
        )
    decoded = decode_body(body, content_type)
    notes.extend(decoded.notes)
    text, repaired = repair_double_utf8(decoded.text)
    if repaired:
        notes.append(f"{repaired} character(s) repaired from double-encoded UTF-8")
    text = _XML_ILLEGAL.sub("", text)
    text = _normalise_declaration(text)
    text, root, doctype = _strip_prolog_declarations(text)
    if doctype and "[" in doctype:
        notes.append("internal DTD subset removed, its entities are not expanded")
    looks_html = root in HTML_ROOTS or (
        bool(doctype and _DOCTYPE_HTML.match(doctype)) and root not in FEED_ROOTS
    )
    return SafeBody(
        data=text.encode("utf-8", "replace"),
        encoding=decoded.encoding,
        root=root,
        looks_html=looks_html,
        notes=tuple(notes),
    )


def gunzip_capped(body: bytes, *, where: str, max_bytes: int, notes: list[str]) -> bytes:
    """Inflate a gzip body, refusing to produce more than ``max_bytes`` (a zip bomb)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise ParseError(
            f"{where}: body looks gzip-compressed but does not inflate: {exc}",
            hint="the server may be sending a corrupt or truncated file",
        ) from exc
    if len(data) > max_bytes:
        raise ParseError(
            f"{where}: gzip body inflates to more than {max_bytes:,} bytes",
            hint="a feed this large is unusual; the URL may serve an archive",
        )
    notes.append("body was gzip-compressed without a Content-Encoding header")
    if not inflater.eof:
        notes.append("gzip stream is truncated")
    return data


def _normalise_declaration(text: str) -> str:
    """Make the XML declaration (if any) the very first thing and have it say utf-8."""
    stripped = text.lstrip()
    match = _XML_DECLARATION.match(stripped)
    if match is None:
        # Prepended on line 1 so that parser line numbers still match the original.
        return UTF8_DECLARATION + text
    # Whitespace before the declaration is not allowed; its newlines move after it so that
    # line numbers in parser messages still point at the original lines.
    newlines = "\n" * text[: len(text) - len(stripped)].count("\n")
    return UTF8_DECLARATION + newlines + stripped[match.end() :]


def _strip_prolog_declarations(text: str) -> tuple[str, str | None, str | None]:
    """Remove markup declarations before the root element.

    Returns the new text, the root element's lower-case local name and the first DOCTYPE
    removed (or None). Removed declarations are replaced by their newlines, keeping line
    numbers stable.
    """
    out: list[str] = []
    doctype: str | None = None
    pos = 0
    while (lt := text.find("<", pos)) >= 0:
        if text.startswith("<?", lt) or text.startswith("<!--", lt):
            close = "?>" if text[lt + 1] == "?" else "-->"
            end = text.find(close, lt + 2)
            end = len(text) if end < 0 else end + len(close)
            # A second XML declaration (after a comment, say) is fatal to expat; drop it.
            misplaced = lt > 0 and _XML_DECLARATION.match(text, lt, end) is not None
            out.append(text[pos:lt] if misplaced else text[pos:end])
        elif text.startswith("<!", lt):
            end = _declaration_end(text, lt)
            declaration = text[lt:end]
            doctype = doctype or (declaration if declaration[2:9].upper() == "DOCTYPE" else None)
            out.append(text[pos:lt] + "\n" * declaration.count("\n"))
        elif name := _NAME.match(text, lt + 1):
            out.append(text[pos:])
            return "".join(out), name.group().rpartition(":")[2].lower(), doctype
        else:
            end = lt + 1
            out.append(text[pos:end])
        pos = end
    out.append(text[pos:])
    return "".join(out), None, doctype


def _declaration_end(text: str, start: int) -> int:
    """Index just past the '>' closing the declaration at ``start`` (``len(text)`` if none)."""
    depth = 0
    pos = start + 2
    # str.find for each closer keeps this linear: an unterminated literal ends the scan.
    while mark := _DECL_MARK.search(text, pos):
        token = mark.group()
        pos = mark.end()
        if token in _DECL_SKIP:
            close = text.find(_DECL_SKIP[token], pos)
            if close < 0:
                break
            pos = close + len(_DECL_SKIP[token])
        elif token == "[":
            depth += 1
        elif token == "]":
            depth = max(depth - 1, 0)
        elif depth == 0:
            return pos
    return len(text)


@dataclass(frozen=True, slots=True)
class Decoded:
    """Text decoded from a body, the codec used and any doubts about it."""

    text: str
    encoding: str
    notes: tuple[str, ...] = ()


_BOMS = (
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
)
_NUL_PATTERNS: dict[tuple[bool, ...], str] = {
    (True, True, True, False): "utf-32-be",
    (False, True, True, True): "utf-32-le",
    (True, False, True, False): "utf-16-be",
    (False, True, False, True): "utf-16-le",
}
_XML_ENCODING = re.compile(rb"\s*<\?xml\s[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]{1,40})[\"']")
# Labels replaced by the superset browsers decode them with (WHATWG Encoding Standard):
# servers routinely say iso-8859-1 for windows-1252 text, gb2312 for GBK, and so on.
_SUPERSETS = {
    "iso-8859-1": "windows-1252", "iso8859-1": "windows-1252", "latin-1": "windows-1252",
    "latin1": "windows-1252", "l1": "windows-1252", "iso-8859-9": "windows-1254",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "big5": "big5hkscs",
    "tis-620": "cp874", "tis620": "cp874", "iso-8859-11": "cp874", "shift_jis": "cp932",
    "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "euc-kr": "cp949",
    "ks_c_5601-1987": "cp949",
}  # fmt: skip
# Guesses trusted from charset_normalizer: web encodings of distinctive scripts, the best
# ranked one wins. Latin single-byte guesses (cp1250 for French, cp1257 for Portuguese...)
# are too often wrong on short feeds, so those fall through to windows-1252 as browsers do;
# rare code pages (mac_cyrillic, cp866...) are passed over for the web ones ranked next.
_TRUSTED_GUESSES = frozenset(
    {
        "big5", "big5hkscs", "cp950", "gb2312", "gbk", "gb18030", "hz", "euc_jp", "shift_jis",
        "cp932", "iso2022_jp", "euc_kr", "cp949", "iso2022_kr", "koi8_r", "koi8_u", "cp1251",
        "iso8859_5", "cp1255", "iso8859_8", "cp1256", "iso8859_6", "cp1253", "iso8859_7",
        "tis_620", "cp874", "iso8859_11", "cp1258",
    }
)  # fmt: skip


def decode_body(body: bytes, content_type: str | None = None) -> Decoded:
    """Decode a feed body: BOM first, then HTTP charset, XML declaration, then a guess."""
    # A BOM, or the NUL pattern of UTF-16/32 markup, settles it: a contradicting declaration
    # could not even have been read. Bad bytes are replaced rather than re-guessed.
    skip, unicode_codec = _unicode_signature(body)
    if unicode_codec is not None:
        text = body[skip:].decode(unicode_codec, "replace")
        replaced = ("invalid bytes replaced",) if "\ufffd" in text else ()
        return Decoded(text, unicode_codec, replaced)
    notes: list[str] = []
    declared = (
        (_http_charset(content_type), "HTTP charset"),
        (_xml_encoding(body), "XML declaration"),
    )
    for label, origin in declared:
        if not label:
            continue
        decoded = _decode_declared(body, label, origin, notes)
        if decoded is not None:
            return decoded
    return _decode_undeclared(body, notes)


def _decode_declared(body: bytes, label: str, origin: str, notes: list[str]) -> Decoded | None:
    """Decode with a declared label, or None (with a note) when the label is wrong."""
    codec = _SUPERSETS.get(label.lower(), label)
    try:
        name = codecs.lookup(codec).name
    except LookupError:
        notes.append(f"unknown encoding {label!r} in the {origin}")
        return None
    if name.startswith(("utf-16", "utf-32")):
        # The label was read as ASCII, so the bytes cannot be UTF-16/32.
        notes.append(f"{origin} says {label} but the bytes are not")
        return None
    text = _strict(body, name)
    if text is None:
        notes.append(f"{origin} says {label} but the bytes are not valid {label}")
        return None
    if name != "utf-8" and not body.isascii() and _strict(body, "utf-8") is not None:
        # Valid UTF-8 with non-ASCII bytes is practically never legacy-encoded text.
        notes.append(f"{origin} says {label} but the bytes are UTF-8")
        return Decoded(body.decode("utf-8"), "utf-8", tuple(notes))
    return Decoded(text, name, tuple(notes))


def _decode_undeclared(body: bytes, notes: list[str]) -> Decoded:
    """Decode a body whose declarations are missing or wrong: UTF-8, a guess, windows-1252."""
    text = _strict(body, "utf-8")
    if text is not None:
        return Decoded(text, "utf-8", tuple(notes))
    lenient = body.decode("utf-8", "replace")
    errors = lenient.count("\ufffd")
    non_ascii = len(lenient) - len(lenient.encode("ascii", "ignore"))
    if non_ascii - errors > 4 * errors:
        # Mostly UTF-8 with a few stray bytes: keep the UTF-8 and lose only those bytes.
        return Decoded(lenient, "utf-8", (*notes, f"{errors} invalid UTF-8 sequences replaced"))
    for guess in charset_normalizer.from_bytes(body):
        if guess.encoding not in _TRUSTED_GUESSES:
            continue
        codec = _SUPERSETS.get(guess.encoding.replace("_", "-"), guess.encoding)
        text = _strict(body, codec) or _strict(body, guess.encoding)
        if text is not None:
            return Decoded(text, codec, (*notes, f"encoding guessed as {codec}"))
        break
    text = _strict(body, "windows-1252")
    if text is not None:
        return Decoded(text, "windows-1252", (*notes, "encoding guessed as windows-1252"))
    return Decoded(body.decode("latin-1"), "latin-1", (*notes, "encoding guessed as latin-1"))


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeError, LookupError):
        return None


def _unicode_signature(body: bytes) -> tuple[int, str | None]:
    """The BOM length and Unicode codec a body announces, by BOM or by NUL-byte pattern."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return len(bom), codec
    # Without a BOM, UTF-16/32 shows where the NUL bytes of ASCII markup ('<?x', '<rs') fall.
    zero = tuple(byte == 0 for byte in body[:4])
    return 0, _NUL_PATTERNS.get(zero) if len(body) >= 4 else None


def _http_charset(content_type: str | None) -> str | None:
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def _xml_encoding(body: bytes) -> str | None:
    match = _XML_ENCODING.match(body, 0, 1024)
    return match.group(1).decode("ascii") if match else None


def _mojibake_bytes() -> dict[str, int]:
    """Byte value of each character that windows-1252 (else latin-1) decodes from 0x80-0xF4."""
    table = {chr(byte): byte for byte in range(0x80, 0xF5)}
    for byte in range(0x80, 0xA0):
        try:
            table[bytes([byte]).decode("cp1252")] = byte
        except UnicodeDecodeError:
            continue
    return table


_MOJIBAKE_BYTE = _mojibake_bytes()
_CONT = "[" + "".join(re.escape(c) for c, b in _MOJIBAKE_BYTE.items() if b < 0xC0) + "]"
# UTF-8 sequences that were decoded as windows-1252 and encoded to UTF-8 again ("Ã©"
# for "é", "â€™" for "’", "Ð¯" for "Я"): CMSes do this to whole feeds or to single fields.
_MOJIBAKE = re.compile(
    f"(?:[\\xc2-\\xdf]{_CONT}|[\\xe0-\\xef]{_CONT}{{2}}|[\\xf0-\\xf4]{_CONT}{{3}})+"
)
# In a mostly clean document only the unmistakable cases are repaired: Latin-1 letters and
# signs ("Ã©", "Â©") and general punctuation ("â€™", "â„¢"); "é\xa0»" in French is genuine.
_COMMON_MOJIBAKE = re.compile(f"(?:[\\xc2\\xc3]{_CONT}|\\xe2[\\u20ac\\u201e]{_CONT})+")
_LETTER_BLOCKS = ((0x100, 0x24F), (0x370, 0x52F), (0x5D0, 0x5EA), (0x620, 0x6FF))


def repair_double_utf8(text: str) -> tuple[str, int]:
    """Undo double-encoded UTF-8 where the result is plausible text; returns the repair count.

    When nearly all non-ASCII text in the document has the shape, every such sequence is
    repaired; otherwise only the common, unmistakable ones are.
    """
    suspect = sum(len(match.group()) for match in _MOJIBAKE.finditer(text))
    if not suspect:
        return text, 0
    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    # Whole-document double encoding leaves (almost) no clean non-ASCII text behind.
    pattern = _MOJIBAKE if 5 * suspect >= 4 * non_ascii else _COMMON_MOJIBAKE
    count = 0

    def fix(match: re.Match[str]) -> str:
        nonlocal count
        try:
            repaired = bytes(_MOJIBAKE_BYTE[c] for c in match.group()).decode("utf-8")
        except UnicodeDecodeError:
            return match.group()
        if not all(_plausible(char) for char in repaired) or _lone_lookalike(repaired):
            return match.group()
        count += len(repaired)
        return repaired

    return pattern.sub(fix, text), count


def _lone_lookalike(repaired: str) -> bool:
    """A single three-byte character amid ASCII is more likely genuine text ("doué\xa0»").

    Double-encoded Chinese, Thai or Khmer comes in runs of many characters; only
    punctuation and symbols ("’", "™") are commonly alone.
    """
    return len(repaired) == 1 and ord(repaired) >= 0x800 and not 0x2000 <= ord(repaired) < 0x2C00


def _plausible(char: str) -> bool:
    """Whether a repaired character is text; two-byte ones must be letters of common scripts."""
    code = ord(char)
    if code < 0x100:
        return code >= 0xA0
    if code < 0x800:
        return unicodedata.category(char).startswith("L") and any(
            low <= code <= high for low, high in _LETTER_BLOCKS
        )
    return unicodedata.category(char) not in ("Cc", "Cn", "Co", "Cs")
