"""HTTP for downloads and Glance: one session factory, manual redirects, clear errors.

Redirects are followed by hand so that the token is sent only to the origin it was
given for (scheme, host and port), a redirect can only lead to http or https, and
never from https down to plain http.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import ssl
import warnings
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3

from ... import __version__
from ..errors import (
    DownloadFailed,
    NetworkError,
    NetworkProblem,
    NotFound,
    Unauthorized,
)
from ..errors import (
    InvalidToken as InvalidToken,  # imported from here too
)
from ..text import remember_secret, scrub

logger = logging.getLogger(__name__)
MAX_REDIRECTS = 10
MAX_TOKEN_BYTES = 64 * 1024  # Keystone tokens are a few hundred bytes; PKI ones a few KiB
_TOKEN = re.compile(r"[\x21-\x7e]+")  # what an HTTP header value can carry unquoted
_DEFAULT_PORTS = {"http": 80, "https": 443}


def check_token(token: str, source: str = "The token") -> str:
    """`token`, if it can be an X-Auth-Token, remembered so that no output ever shows it."""
    remember_secret(token)
    if not token:
        raise InvalidToken(f"{source} is empty.")
    if not _TOKEN.fullmatch(token):
        raise InvalidToken(
            f"{source} is not a token: a token is one line of printable ASCII characters without spaces."
        )
    return token


def read_token_file(path: str) -> str:
    """The token a file holds on its only line (a final line break is fine)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        raise InvalidToken(f"The token file {path} cannot be read: {exc.strerror}.") from None
    if len(data) > MAX_TOKEN_BYTES:
        raise InvalidToken(f"The token file {path} is too large to hold a token.")
    return check_token(data.decode("latin-1").strip(), f"The token file {path}")


class TokenSource(Protocol):
    """A login that hands out a current token (core/cloud/auth.py's KeystoneLogin)."""

    def token(self) -> str: ...

    def invalidate(self) -> None: ...


@dataclass(frozen=True)
class HttpOptions:
    token: str | None = None
    ca_bundle: str | None = None
    insecure: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    # Asked for a token before every request (so a retry or a resume gets a current one);
    # it wins over `token`.
    login: TokenSource | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.token is not None:
            check_token(self.token)

    def current_token(self) -> str | None:
        return self.login.token() if self.login is not None else self.token

    def __repr__(self) -> str:  # the token never appears in logs or reports
        return f"HttpOptions(token={'***' if self.token else None}, ca_bundle={self.ca_bundle!r})"


class _Retry(urllib3.util.Retry):
    """urllib3's Retry, with a server's Retry-After capped: a hostile one cannot park us."""

    def get_retry_after(self, response: urllib3.BaseHTTPResponse) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, MAX_RETRY_AFTER)


# A busy or restarting server (429, 502, 503, 504) is asked again with backoff, honouring
# Retry-After; connection errors are not retried here (a download retries those itself,
# and says so), so an unreachable host fails at once.
STATUS_RETRIES = 4
MAX_RETRY_AFTER = 30.0


def status_retry() -> urllib3.util.Retry:
    return _Retry(
        total=None, connect=0, read=0, redirect=0, other=0, status=STATUS_RETRIES,
        status_forcelist=(429, 502, 503, 504), allowed_methods=frozenset({"GET", "HEAD"}),
        backoff_factor=0.5, backoff_max=MAX_RETRY_AFTER, respect_retry_after_header=True,
        raise_on_status=False, raise_on_redirect=False,
    )  # fmt: skip


def verify_setting(options: HttpOptions) -> bool | str:
    """What requests verifies with: --ca-bundle (or the cloud's OS_CACERT), else the
    environment's REQUESTS_CA_BUNDLE or SSL_CERT_FILE, else the system's trust store."""
    if options.insecure:
        return False
    for given in (options.ca_bundle, os.environ.get("REQUESTS_CA_BUNDLE"), os.environ.get("SSL_CERT_FILE")):
        if given:
            return given
    paths = ssl.get_default_verify_paths()
    for system in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if system and os.path.isfile(system):
            return system
    return True  # certifi's bundle, requests' default


def session_for(options: HttpOptions) -> requests.Session:
    if options.insecure:  # the caller has warned the user once, in words; no warning per request
        warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
    session = requests.Session()
    session.verify = verify_setting(options)
    session.trust_env = False  # no netrc credentials picked up behind our back; proxies: _send
    adapter = requests.adapters.HTTPAdapter(max_retries=status_retry())
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers.update({
        "User-Agent": f"diskscope/{__version__}",
        "Accept-Encoding": "identity",
    })  # fmt: skip
    return session


def redact(url: str) -> str:
    """A URL fit for messages: no user info, no query string."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def check_scheme(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DownloadFailed(f"Only http and https URLs are accepted, not {scheme or 'this'}: "
                             f"{redact(url)}.")  # fmt: skip
    try:
        origin(url)
    except ValueError:
        raise DownloadFailed(f"The URL {redact(url)} has a port number that cannot be.") from None


def origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port, the default port spelled out: what a token is bound to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, parts.hostname or "", parts.port or _DEFAULT_PORTS.get(scheme)


def get(
    session: requests.Session,
    url: str,
    options: HttpOptions,
    headers: dict[str, str] | None = None,
    *,
    stream: bool = False,
) -> requests.Response:
    """GET with redirects followed by hand; the token goes only to the first URL's origin.

    Connection errors and timeouts become NetworkError (the download retries them), their
    message without the query string; every other failure becomes DownloadFailed.
    """
    check_scheme(url)
    token_origin, first = origin(url), url
    token = options.current_token()
    renewed = False
    for _ in range(MAX_REDIRECTS + 1):
        sent = dict(headers or {})
        if token and origin(url) == token_origin:
            sent["X-Auth-Token"] = token
        response = _send(session, url, options, sent, stream)
        if response.status_code == 401 and options.login is not None and not renewed:
            # expired or revoked early: log in again once, from the first URL
            response.close()
            options.login.invalidate()
            token, url, renewed = options.login.token(), first, True
            continue
        if not response.is_redirect:
            return response
        location = urljoin(url, response.headers.get("Location", ""))
        response.close()
        check_scheme(location)
        if urlsplit(url).scheme.lower() == "https" and urlsplit(location).scheme.lower() == "http":
            raise DownloadFailed(
                f"{redact(url)} redirected to plain http, which anyone on the network path "
                "could read or alter; Diskscope does not follow it."
            )
        logger.info("redirected to %s", redact(location))
        url = location
    raise DownloadFailed(f"Too many redirects from {redact(url)}.")


def _send(
    session: requests.Session, url: str, options: HttpOptions, headers: dict[str, str], stream: bool
) -> requests.Response:
    try:
        return session.get(
            url,
            headers=headers,
            stream=stream,
            allow_redirects=False,
            timeout=(options.connect_timeout, options.read_timeout),
            proxies=requests.utils.get_environ_proxies(url),  # http(s)_proxy, no_proxy
        )
    except requests.exceptions.SSLError:
        raise DownloadFailed(
            f"TLS verification failed for {urlsplit(url).hostname}; give the CA bundle that "
            "signed its certificate with --ca-bundle (or OS_CACERT), or turn verification off "
            "if you trust the network."
        ) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise NetworkError(scrub(str(exc)), network_problem(exc)) from None
    except requests.exceptions.RequestException as exc:  # messages may quote headers
        raise DownloadFailed(
            f"The request to {redact(url)} could not be made ({type(exc).__name__})."
        ) from None


def raise_for_status(response: requests.Response, what: str) -> None:
    """One sentence for a status the caller did not expect."""
    code = response.status_code
    if code in (401, 403):
        raise Unauthorized(
            f"The server refused access to {what} ({code} {response.reason}); check the token.", code
        )
    if code == 404:
        raise NotFound(f"{what} was not found on the server (404).", code)
    if code >= 400:
        raise DownloadFailed(f"The server answered {code} {response.reason} for {what}.")


def network_problem(exc: BaseException) -> NetworkProblem:
    """What a requests, urllib3 or socket exception means, by the types along its chain
    (requests wraps urllib3's errors, which wrap the socket's)."""
    chain = _chain(exc)
    if any(isinstance(e, (urllib3.exceptions.NameResolutionError, socket.gaierror)) for e in chain):
        return NetworkProblem.UNKNOWN_HOST
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return NetworkProblem.REFUSED
    timeouts = (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
    # urllib3's NewConnectionError subclasses its ConnectTimeoutError: it is no timeout.
    if any(
        isinstance(e, timeouts) and not isinstance(e, urllib3.exceptions.NewConnectionError) for e in chain
    ):
        return NetworkProblem.TIMEOUT
    return NetworkProblem.OTHER


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and every one it was raised from, wraps or names as its reason."""
    found: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop()
        if any(current is e for e in found):
            continue
        found.append(current)
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        todo += [e for e in linked if isinstance(e, BaseException)]
    return found
