"""E-mail messages on the wire: headers safe for any SMTP server, stable Message-IDs.

:func:`compose_email` turns a rendered subject, text and HTML (see :mod:`alerts.render.message`)
into a multipart/alternative message whose Message-ID is derived from the delivery key,
so a re-sent alert, digest or operations alert can be recognised as the same message.
"""

from __future__ import annotations

import base64
import email.policy
import email.utils
import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

# Only when the sender's address gives no usable domain.
MESSAGE_ID_DOMAIN = "newswatch.invalid"
_ATEXT = re.compile(r"[A-Za-z0-9!#$%&'*+/?^_`{|}~.-]")
_DOMAIN = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


class _MailPolicy(email.policy.EmailPolicy):
    """SMTP policy that folds subjects itself.

    The standard folder can drop or double a space where it splits text into RFC 2047
    encoded words, changing titles such as Urdu headlines. Here the whole value goes into
    encoded words, cut only between characters, so decoding restores it exactly. Titles
    that merely look like encoded words are encoded too, so readers show them literally.
    ASCII subjects are folded at spaces; the standard folder sometimes breaks right after
    ``Subject:``, which leaves a leading space in what readers show. ``List-Unsubscribe``
    holds one address that cannot be folded anyway, so it stays on its line (it is ASCII:
    the channel's setting is checked, the rule name percent-encoded).
    """

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        # The standard store step decodes "=?...?=" found in the text; keep subjects verbatim.
        if name.lower() == "subject" and isinstance(value, str):
            if "\r" in value or "\n" in value:
                raise ValueError("Header values may not contain linefeed or carriage return")
            return name, value
        return super().header_store_parse(name, value)

    def fold(self, name: str, value: Any) -> str:
        if name.lower() == "list-unsubscribe" and str(value).isascii():
            return f"{name}: {value}{self.linesep}"
        if name.lower() != "subject" or self.utf8:
            return super().fold(name, value)
        text, width = str(value), self.max_line_length or 78
        # A literal "=?...?=" in a title would be decoded by the reader into other text.
        if not text.isascii() or "=?" in text or _has_long_word(name, text, width):
            return _encoded_words(name, text, self.linesep, width)
        return _folded_words(name, text, self.linesep, width)

    def fold_binary(self, name: str, value: Any) -> bytes:
        if name.lower() == "subject" and not self.utf8:
            return self.fold(name, value).encode("ascii")
        if name.lower() == "list-unsubscribe" and str(value).isascii():
            return self.fold(name, value).encode("ascii")
        return super().fold_binary(name, value)


# 7bit makes bodies quoted-printable/base64 so any SMTP server accepts them, 8BITMIME or not.
MAIL_POLICY = _MailPolicy(linesep="\r\n", cte_type="7bit")


def compose_email(
    *,
    subject: str,
    text: str,
    html: str,
    key: str,
    sender: str,
    to: Sequence[str],
    headers: Mapping[str, str] | None = None,
    unsubscribe: str | None = None,
) -> EmailMessage:
    """A multipart/alternative (text + HTML) message with a Message-ID stable per key.

    ``to`` may be empty (an mbox copy needs no recipient); then no To header is set.
    ``headers`` are extra ``X-Newswatch-*`` headers, already cleaned to one line.
    ``unsubscribe`` (an http(s) or mailto: address) becomes the ``List-Unsubscribe``
    header, which mail clients show as an "Unsubscribe" link.
    """
    msg = EmailMessage(policy=MAIL_POLICY)
    # Header values go through the policy's header classes, which refuse CR/LF and
    # encode non-ASCII as RFC 2047 words folded at 78 columns.
    msg["Subject"] = subject
    msg["From"] = sender
    if to:
        msg["To"] = ", ".join(to)
    msg["Date"] = email.utils.format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id(key, sender_domain(sender))
    msg["X-Newswatch-Key"] = key
    for name, value in (headers or {}).items():
        msg[name] = value
    if unsubscribe:
        msg["List-Unsubscribe"] = f"<{unsubscribe}>"
    # RFC 3834: tells auto-responders (vacation replies) not to answer.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(html, subtype="html", charset="utf-8")
    return msg


def message_id(key: str, domain: str = MESSAGE_ID_DOMAIN) -> str:
    """``<key@domain>``, escaping what a msg-id forbids; hashed when too long."""
    local = "".join(c if _ATEXT.fullmatch(c) and c != "=" else f"={ord(c):02X}" for c in key)
    # Dots may only separate atoms: "a.b" stays readable, ".a", "a." and "a..b" do not.
    if local.startswith(".") or local.endswith(".") or ".." in local:
        local = local.replace(".", "=2E")
    if len(local) > 128:
        local = hashlib.sha256(key.encode()).hexdigest()
    return f"<{local}@{domain}>"


def sender_domain(sender: str) -> str:
    """The domain of the sender's address (IDNA-encoded), or ``newswatch.invalid``."""
    _, at, domain = email.utils.parseaddr(sender)[1].rpartition("@")
    domain = domain.strip().rstrip(".")
    if not at:
        return MESSAGE_ID_DOMAIN
    try:
        domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return MESSAGE_ID_DOMAIN
    return domain if _DOMAIN.fullmatch(domain) and len(domain) <= 253 else MESSAGE_ID_DOMAIN


def _has_long_word(name: str, text: str, width: int) -> bool:
    """Whether some word cannot fit a line; encoded words can split it, spaces cannot."""
    words = text.split(" ")
    return len(name) + 2 + len(words[0]) > width or any(len(w) + 1 > width for w in words)


def _folded_words(name: str, text: str, linesep: str, width: int) -> str:
    """``Name: words`` folded at spaces so no line exceeds ``width`` where a space allows."""
    words = text.split(" ")
    lines = [f"{name}: {words[0]}"]
    for word in words[1:]:
        if len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(" " + word)
    return linesep.join(lines) + linesep


def _encoded_words(name: str, text: str, linesep: str, width: int) -> str:
    """``Name: =?utf-8?b?...?=`` folded over lines of at most ``width`` characters."""
    words: list[str] = []
    budget = width - len(name) - 2  # first line: "Name: " + word
    chunk = b""
    for char in text:
        data = char.encode("utf-8")
        # An encoded word costs 12 characters plus 4 per started group of 3 bytes.
        if chunk and 12 + 4 * -(-(len(chunk) + len(data)) // 3) > budget:
            words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode()}?=")
            chunk, budget = b"", width - 1  # later lines: " " + word
        chunk += data
    words.append(f"=?utf-8?b?{base64.b64encode(chunk).decode()}?=")
    return f"{name}: " + f"{linesep} ".join(words) + linesep
