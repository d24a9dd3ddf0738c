"""Typed, frozen models for every section of ``config.toml``.

Sources and channels are discriminated unions on their ``type`` key; each variant is its
own model so an unknown key is rejected with the keys that variant allows. Load them through
:func:`scheduler.config.load_config`, which resolves paths against the config file's folder
and reports every problem at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from difflib import get_close_matches
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from alerts.delivery.schedule import CRON_EXAMPLE, QuietHours, parse_mute_until
from crawler.db import DatabaseTarget, PostgresUrl
from crawler.models import Source
from scheduler.config_problems import describe
from scheduler.config_types import (
    Bool,
    Crontab,
    DatabaseSetting,
    DisplayName,
    Duration,
    EmailAddress,
    Float,
    HttpUrl,
    Int,
    LanguageCode,
    ListenAddress,
    MuteUrl,
    Name,
    PasswordHash,
    Query,
    Regex,
    Selector,
    Size,
    TimeZoneName,
    invalid,
    is_loopback,
    resolve_path,
    split_address,
)

if TYPE_CHECKING:
    from alerts.rules.rule import Rule

DEFAULT_USER_AGENT = "newswatch/0.1 (+https://github.com/newswatch/newswatch)"
DEFAULT_SMTP_PORTS = {"starttls": 587, "tls": 465, "none": 25}

_FROZEN = ConfigDict(extra="forbid", frozen=True)


def _quiet_hours(value: str) -> str:
    try:
        QuietHours.parse(value)
    except ValueError as exc:
        raise invalid(str(exc), "times are in [service] timezone, 24-hour clock") from None
    return value


def _mute_until(value: Any) -> date | datetime:
    try:
        return parse_mute_until(value)
    except ValueError as exc:
        hint = "without a time, the mute ends at midnight starting that day"
        raise invalid(str(exc), hint) from None


QuietHoursText = Annotated[str, AfterValidator(_quiet_hours)]
MuteUntil = Annotated[date | datetime, BeforeValidator(_mute_until)]


class ServiceSettings(BaseModel):
    """The ``[service]`` table: database, default poll interval, politeness and retries."""

    model_config = _FROZEN

    database: DatabaseSetting = Field(default=Path("newswatch.db"), validate_default=True)
    interval: Duration = timedelta(minutes=15)
    user_agent: str = DEFAULT_USER_AGENT
    timeout: Duration = timedelta(seconds=30)
    max_size: Size = 10 * 1024 * 1024
    obey_robots: Bool = True
    concurrency_per_host: Int = Field(default=1, ge=1)
    host_spacing: Duration = timedelta(seconds=2)
    timezone: TimeZoneName = "UTC"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    near_duplicate: Float = Field(default=0.8, gt=0, le=1)
    retry_max_attempts: Int = Field(default=20, ge=1)
    retry_max_age: Duration = timedelta(days=2)
    ops_channels: tuple[str, ...] = ()
    keep: Duration | None = None
    health: ListenAddress | None = None
    failure_alert_after: Int = Field(default=5, ge=1)
    templates: Path = Field(default=Path("templates"), validate_default=True)

    @field_validator("database")
    @classmethod
    def _absolute_database(cls, value: DatabaseTarget, info: ValidationInfo) -> DatabaseTarget:
        return value if isinstance(value, PostgresUrl) else resolve_path(value, info)

    @field_validator("templates")
    @classmethod
    def _usable_templates(cls, value: Path, info: ValidationInfo) -> Path:
        folder = resolve_path(value, info)
        if folder.exists() and not folder.is_dir():
            raise invalid(f"{folder} is not a folder", "point it at a folder of *.j2 templates")
        if not folder.is_dir():
            return folder
        from alerts.render.message import check_templates  # jinja2: only for own templates

        problems = check_templates(folder)
        if problems:
            raise invalid(
                "; ".join(problems), "fix the template, or remove it to use the packaged one"
            )
        return folder


class WebSettings(BaseModel):
    """The ``[web]`` table: where the web interface, /healthz and /metrics are served, and
    who may use them. Unset ``listen`` serves nothing."""

    model_config = _FROZEN

    listen: ListenAddress | None = None
    password: str | None = Field(default=None, repr=False)
    password_hash: PasswordHash | None = Field(default=None, repr=False)
    session: Duration = timedelta(hours=12)

    @model_validator(mode="after")
    def _safe_by_default(self) -> WebSettings:
        if self.password is not None and self.password_hash is not None:
            raise invalid(
                "set either password or password_hash, not both",
                "password_hash is what `newswatch hash-password` prints",
                key="password",
            )
        if self.password is not None and not self.password.strip():
            raise invalid("the password is empty", key="password")
        if self.listen and not self.has_password and not is_loopback(split_address(self.listen)[0]):
            raise invalid(
                f"{self.listen} is reachable from other machines, and no password is set",
                'set password = "${NEWSWATCH_WEB_PASSWORD}" or password_hash (from '
                "`newswatch hash-password`), or listen on 127.0.0.1",
                key="listen",
            )
        return self

    @property
    def has_password(self) -> bool:
        """Whether the pages ask for a password."""
        return self.password is not None or self.password_hash is not None


class _SourceBase(BaseModel):
    """Keys every source type shares. ``name`` comes from the table key."""

    model_config = _FROZEN

    name: Name
    type: str
    url: HttpUrl
    title: DisplayName | None = None
    interval: Duration | None = None
    cron: Crontab | None = None
    user_agent: str | None = None
    delay: Duration | None = None
    max_articles: Int | None = Field(default=None, gt=0)
    enabled: Bool = True
    stale_after: Duration | None = None

    def to_source(self) -> Source:
        """The record the fetcher works from."""
        return Source(
            name=self.name,
            type=self.type,
            url=self.url,
            user_agent=self.user_agent,
            delay=self.delay.total_seconds() if self.delay is not None else None,
            max_articles=self.max_articles,
            **self._variant_fields(),
        )

    def _variant_fields(self) -> dict[str, Any]:
        return {}


class RssSource(_SourceBase):
    """An RSS, RDF or Atom feed."""

    type: Literal["rss"] = "rss"
    full_text: Bool = False

    def _variant_fields(self) -> dict[str, Any]:
        return {"full_text": self.full_text}


class HtmlSource(_SourceBase):
    """A listing page whose article links are followed."""

    type: Literal["html"] = "html"
    follow: Selector | None = None
    allow: tuple[Regex, ...] = ()
    deny: tuple[Regex, ...] = ()
    pages: Int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _needs_links(self) -> HtmlSource:
        if not self.follow and not self.allow:
            raise invalid(
                "an html source needs 'follow' (a selector for article links) "
                "or 'allow' (URL patterns of articles)",
                'e.g. follow = "h2 a" or allow = ["/news/\\\\d+"]',
            )
        return self

    def _variant_fields(self) -> dict[str, Any]:
        return {"follow": self.follow, "allow": self.allow, "deny": self.deny, "pages": self.pages}


class SitemapSource(_SourceBase):
    """A sitemap (or sitemap index) listing article URLs."""

    type: Literal["sitemap"] = "sitemap"
    allow: tuple[Regex, ...] = ()
    deny: tuple[Regex, ...] = ()

    def _variant_fields(self) -> dict[str, Any]:
        return {"allow": self.allow, "deny": self.deny}


def _google_news_query(value: str) -> str:
    from crawler.google_news import MAX_QUERY_CHARS

    query = " ".join(value.split())
    if not query:
        raise invalid("the query is empty", 'e.g. query = "Cambodia scam compound"')
    if len(query) > MAX_QUERY_CHARS:
        raise invalid(
            f"the query is {len(query)} characters long (at most {MAX_QUERY_CHARS})",
            "split it into several google-news sources",
        )
    return query


def _google_news_language(value: str) -> str:
    from crawler.google_news import LANGUAGES

    if value in LANGUAGES:
        return value
    by_case = {code.lower(): code for code in LANGUAGES}
    close = by_case.get(value.lower()) or next(iter(get_close_matches(value, LANGUAGES, n=1)), None)
    hint = f'did you mean "{close}"?' if close else None
    known = ", ".join(LANGUAGES)
    raise invalid(f"unknown Google News language {value!r} (expected one of: {known})", hint)


def _google_news_region(value: str) -> str:
    from crawler.google_news import check_region

    problem = check_region(value)
    if problem:
        raise invalid(f"invalid region {value!r}", problem)
    return value


class GoogleNewsSource(_SourceBase):
    """A Google News search feed; its address is built from query, language and region."""

    type: Literal["google-news"] = "google-news"
    query: Annotated[str, AfterValidator(_google_news_query)]
    language: Annotated[str, AfterValidator(_google_news_language)]
    region: Annotated[str, AfterValidator(_google_news_region)]

    @model_validator(mode="before")
    @classmethod
    def _build_url(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if "url" in data:  # reported by _no_url, with whatever else is wrong
            return {**data, "url": _GIVEN_URL}
        from crawler.google_news import LANGUAGES, check_region, search_feed_url

        query, language, region = (data.get(key) for key in ("query", "language", "region"))
        url = "https://news.google.com/rss/search"  # replaced below when the keys are usable
        if (
            isinstance(query, str)
            and language in LANGUAGES
            and isinstance(region, str)
            and check_region(region) is None
        ):
            url = search_feed_url(" ".join(query.split()), language, region)
        return {**data, "url": url}

    @field_validator("url", mode="before")
    @classmethod
    def _no_url(cls, value: Any) -> Any:
        if value is _GIVEN_URL:
            raise invalid(
                "not used by google-news sources: the feed's address is built from query,"
                " language and region",
                'remove url, or use type = "rss" for a feed address of your own',
            )
        return value


_GIVEN_URL = object()  # a google-news table that has a url key


SourceSettings = Annotated[
    RssSource | HtmlSource | SitemapSource | GoogleNewsSource, Field(discriminator="type")
]
SOURCE_TYPES: dict[str, type[_SourceBase]] = {
    "rss": RssSource,
    "html": HtmlSource,
    "sitemap": SitemapSource,
    "google-news": GoogleNewsSource,
}


class RuleSettings(BaseModel):
    """One ``[rules.NAME]`` table: a query and the channels its alerts go to."""

    model_config = _FROZEN

    query: Query
    channels: tuple[str, ...] = Field(min_length=1)
    exclude: Query | None = None
    languages: tuple[LanguageCode, ...] = ()
    sources: tuple[str, ...] = ()
    min_hits: Int = Field(default=1, ge=1)
    enabled: Bool = True
    mode: Literal["immediate", "digest"] = "immediate"
    digest: Crontab | None = None
    send_empty: Bool = False
    mute_until: MuteUntil | None = None

    def to_rule(self, name: str) -> Rule:
        """The matcher's record of this rule."""
        from alerts.rules.rule import Rule

        return Rule(
            name=name,
            query=self.query,
            exclude=self.exclude,
            languages=tuple(self.languages),
            sources=tuple(self.sources),
            min_hits=self.min_hits,
        )

    @model_validator(mode="after")
    def _digest_needs_schedule(self) -> RuleSettings:
        if self.mode == "digest" and self.digest is None:
            raise invalid(
                'required when mode = "digest"', f"a cron line, e.g. {CRON_EXAMPLE}", key="digest"
            )
        if self.mode == "immediate" and self.digest is not None:
            raise invalid(
                'only used when mode = "digest"', 'add mode = "digest" or remove it', key="digest"
            )
        return self


class _ChannelLimits(BaseModel):
    """Keys every channel type shares: how often and when it may send."""

    model_config = _FROZEN

    max_per_hour: Int | None = Field(default=None, ge=1)
    quiet_hours: QuietHoursText | None = None
    mute_until: MuteUntil | None = None


class EmailChannelSettings(_ChannelLimits):
    """Alerts sent by SMTP. ``from`` in TOML is ``sender`` in Python."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, validate_by_alias=True
    )

    type: Literal["email"] = "email"
    host: str
    port: Int = Field(default=DEFAULT_SMTP_PORTS["starttls"], ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    sender: EmailAddress = Field(alias="from")
    to: tuple[EmailAddress, ...] = Field(min_length=1)
    timeout: Duration = timedelta(seconds=30)
    mute_url: MuteUrl | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_port(cls, data: Any) -> Any:
        # The usual port follows from the security mode, so most configs can leave it out.
        if isinstance(data, dict) and "port" not in data:
            security = data.get("security", "starttls")
            if isinstance(security, str) and security in DEFAULT_SMTP_PORTS:
                return {**data, "port": DEFAULT_SMTP_PORTS[security]}
        return data

    @field_validator("host")
    @classmethod
    def _plain_host(cls, value: str) -> str:
        if not value.strip() or "://" in value or " " in value.strip():
            raise invalid(
                f'invalid host {value!r} (expected a host name like "smtp.example.org")',
                "give the port in 'port' and the encryption in 'security', not in the host",
            )
        return value.strip()

    @model_validator(mode="after")
    def _login_pairs(self) -> EmailChannelSettings:
        if self.username is not None and not self.password:
            raise invalid("required when 'username' is set", key="password")
        if self.password is not None and not self.username:
            raise invalid("required when 'password' is set", key="username")
        return self


class WebhookChannelSettings(_ChannelLimits):
    """Alerts POSTed as JSON to a URL, optionally signed with ``secret``."""

    model_config = _FROZEN

    type: Literal["webhook"] = "webhook"
    url: HttpUrl
    # One of alerts.render.formats.FORMATS, the one list of webhook formats.
    format: str = "json"
    # Headers often carry tokens, so they stay out of repr() like the secret.
    headers: dict[str, str] = Field(default_factory=dict, repr=False)
    secret: str | None = Field(default=None, repr=False)
    timeout: Duration = timedelta(seconds=30)

    @field_validator("format", mode="before")
    @classmethod
    def _known_format(cls, value: Any) -> Any:
        from alerts.render.formats import FORMATS

        if not isinstance(value, str) or value not in FORMATS:
            names = [repr(name) for name in FORMATS]
            expected = f"{', '.join(names[:-1])} or {names[-1]}"
            raise invalid(f"expected one of {expected}, found {describe(value)}")
        return value

    @field_validator("url")
    @classmethod
    def _sendable_url(cls, value: str) -> str:
        from alerts.channels.webhook import check_url

        problem = check_url(value)
        if problem is not None:
            hint = "percent-encode the path and use the xn-- form of the host"
            raise invalid(f"invalid webhook URL: {problem}", hint)
        return value

    @field_validator("headers")
    @classmethod
    def _sendable_headers(cls, value: dict[str, str]) -> dict[str, str]:
        from alerts.channels.webhook import check_headers

        problem = check_headers(value)
        if problem is not None:
            raise invalid(problem)
        return value

    @field_validator("secret")
    @classmethod
    def _secret_not_empty(cls, value: str | None) -> str | None:
        if value == "":
            raise invalid("the secret is empty", "remove `secret` to send unsigned, or set one")
        return value


class MboxChannelSettings(_ChannelLimits):
    """Alerts appended to a local mbox file (an archive, or for testing rules)."""

    model_config = _FROZEN

    type: Literal["mbox"] = "mbox"
    path: Path

    @field_validator("path")
    @classmethod
    def _absolute_path(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve_path(value, info)


class AppriseChannelSettings(_ChannelLimits):
    """Alerts sent through Apprise URLs (needs the optional ``apprise`` package)."""

    model_config = _FROZEN

    type: Literal["apprise"] = "apprise"
    # Apprise URLs usually hold tokens, so they stay out of repr() and messages.
    urls: tuple[str, ...] = Field(min_length=1, repr=False)
    timeout: Duration = timedelta(seconds=30)

    @field_validator("urls", mode="before")
    @classmethod
    def _apprise_installed(cls, value: Any) -> Any:
        from alerts.channels.apprise import INSTALL_HINT, load_apprise

        try:
            load_apprise()
        except ModuleNotFoundError:
            raise invalid("the apprise package is not installed", INSTALL_HINT) from None
        return value

    @field_validator("urls")
    @classmethod
    def _apprise_urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from alerts.channels.apprise import check_url

        for index, url in enumerate(value):
            problem = check_url(url)
            if problem is not None:
                raise invalid(
                    f"urls[{index}]: {problem}",
                    "see https://github.com/caronc/apprise/wiki for each service's URL",
                )
        return value


# One model per type of alerts.channels.CHANNELS (a test keeps the two in step).
_ChannelModels = (
    EmailChannelSettings | WebhookChannelSettings | MboxChannelSettings | AppriseChannelSettings
)
ChannelSettings = Annotated[_ChannelModels, Field(discriminator="type")]
CHANNEL_TYPES: dict[str, type[BaseModel]] = {
    model.model_fields["type"].default: model for model in get_args(_ChannelModels)
}


class Config(BaseModel):
    """The whole validated configuration; ``path`` is the file it came from."""

    model_config = _FROZEN

    service: ServiceSettings = Field(default_factory=ServiceSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    sources: Mapping[str, SourceSettings] = Field(default_factory=dict)
    rules: Mapping[str, RuleSettings] = Field(default_factory=dict)
    channels: Mapping[str, ChannelSettings] = Field(default_factory=dict)
    path: Path
    folder: Path

    @property
    def listen(self) -> str | None:
        """The address the service serves HTTP on: ``[web] listen``, else the older
        ``[service] health`` (which serves /healthz and /metrics only)."""
        return self.web.listen or self.service.health

    def interval_for(self, source: str) -> timedelta:
        """How often ``source`` is polled: its own ``interval``, else the service default."""
        return self.sources[source].interval or self.service.interval
