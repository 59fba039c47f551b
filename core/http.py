"""HTTP for downloads and Glance: one session factory, manual redirects, clear errors.

Redirects are followed by hand so that the token is never sent to another host
and a redirect can only lead to http or https.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
import urllib3
from diskscope import __version__
from diskscope.core.errors import DiskscopeError

logger = logging.getLogger(__name__)
MAX_REDIRECTS = 10


class DownloadFailed(DiskscopeError):
    """The server or the network did not deliver."""


class Unauthorized(DownloadFailed):
    """401 or 403 from the server."""


@dataclass(frozen=True)
class HttpOptions:
    token: str | None = None
    ca_bundle: str | None = None
    insecure: bool = False
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    def __repr__(self) -> str:  # the token never appears in logs or reports
        return f"HttpOptions(token={'***' if self.token else None}, ca_bundle={self.ca_bundle!r})"


def session_for(options: HttpOptions) -> requests.Session:
    if options.insecure:  # the caller has warned the user once, in words; no warning per request
        warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
    session = requests.Session()
    session.verify = options.ca_bundle or not options.insecure
    session.trust_env = False  # no proxies or netrc credentials picked up behind our back
    session.headers.update({
        "User-Agent": f"diskscope/{__version__}",
        "Accept-Encoding": "identity",
    })  # fmt: skip
    return session


def redact(url: str) -> str:
    """A URL fit for messages: no user info, no query string."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def check_scheme(url: str) -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise DownloadFailed(f"Only http and https URLs are accepted, not {scheme or 'this'}: "
                             f"{redact(url)}.")  # fmt: skip


def get(
    session: requests.Session,
    url: str,
    options: HttpOptions,
    headers: dict[str, str] | None = None,
    *,
    stream: bool = False,
) -> requests.Response:
    """GET with redirects followed by hand; network failures become DownloadFailed."""
    check_scheme(url)
    origin = urlsplit(url).netloc
    for _ in range(MAX_REDIRECTS + 1):
        sent = dict(headers or {})
        if options.token and urlsplit(url).netloc == origin:
            sent["X-Auth-Token"] = options.token
        try:
            response = session.get(
                url,
                headers=sent,
                stream=stream,
                allow_redirects=False,
                timeout=(options.connect_timeout, options.read_timeout),
            )
        except requests.exceptions.SSLError:
            raise DownloadFailed(
                f"TLS verification failed for {urlsplit(url).hostname}; give the CA bundle "
                "that signed its certificate, or turn verification off if you trust the network."
            ) from None
        if not response.is_redirect:
            return response
        location = urljoin(url, response.headers.get("Location", ""))
        response.close()
        check_scheme(location)
        logger.info("redirected to %s", redact(location))
        url = location
    raise DownloadFailed(f"Too many redirects from {redact(url)}.")


def raise_for_status(response: requests.Response, what: str) -> None:
    """One sentence for a status the caller did not expect."""
    code = response.status_code
    if code in (401, 403):
        raise Unauthorized(
            f"The server refused access to {what} ({code} {response.reason}); check the token."
        )
    if code == 404:
        raise DownloadFailed(f"{what} was not found on the server (404).")
    if code >= 400:
        raise DownloadFailed(f"The server answered {code} {response.reason} for {what}.")
