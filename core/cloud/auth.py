"""Logging in to an OpenStack cloud the way its admins already do: clouds.yaml, openrc
variables, command-line options; password, application credential or token.

keystoneauth1 obtains (and renews) the token and finds the image endpoint in the service
catalog; it never downloads: our own HTTP layer (core/fetch/http.py) sends the token, and only to
that endpoint's scheme, host and port. openstacksdk is imported only to read clouds.yaml
(and secure.yaml) when a cloud is named, so commands that need no cloud stay fast.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ..errors import CloudNotFound, LoginFailed, PasswordNeeded
from ..fetch.http import check_token, redact
from ..text import printable, remember_secret

logger = logging.getLogger(__name__)

# The settings a login reads, by their clouds.yaml names; each comes from OS_<NAME> too.
AUTH_FIELDS = (
    "auth_url", "username", "user_id", "password", "user_domain_name", "user_domain_id",
    "project_name", "project_id", "project_domain_name", "project_domain_id",
    "application_credential_id", "application_credential_name", "application_credential_secret",
    "token",
)  # fmt: skip
OTHER_FIELDS = ("auth_type", "region_name", "interface", "cacert")
SECRET_FIELDS = ("password", "application_credential_secret", "token")
ENVIRONMENT = "from the environment"  # the window's name for the openrc variables


@dataclass(frozen=True)
class CloudSettings:
    """Everything a login needs, merged from its sources; `repr` never shows a secret."""

    values: Mapping[str, str] = field(default_factory=dict)
    cloud: str | None = None

    def __repr__(self) -> str:
        shown = {k: ("***" if k in SECRET_FIELDS else v) for k, v in self.values.items()}
        return f"CloudSettings(cloud={self.cloud!r}, {shown})"

    def get(self, name: str) -> str | None:
        return self.values.get(name) or None

    @property
    def wants_login(self) -> bool:
        return bool(self.get("auth_url"))

    @property
    def auth_type(self) -> str:
        """password, v3applicationcredential or v3token (openstackclient's names)."""
        given = (self.get("auth_type") or "").lower().replace("_", "")
        if given in ("password", "v3password"):
            return "password"
        if given in ("v3applicationcredential", "applicationcredential"):
            return "v3applicationcredential"
        if given in ("token", "v3token"):
            return "v3token"
        if given:
            raise LoginFailed(f"The auth type {printable(given)!r} is not supported; use password, "
                              "v3applicationcredential or v3token.")  # fmt: skip
        if self.get("application_credential_id") or self.get("application_credential_name"):
            return "v3applicationcredential"
        if self.get("token") and not self.get("password"):
            return "v3token"
        return "password"

    @property
    def needs_password(self) -> bool:
        return self.wants_login and self.auth_type == "password" and not self.get("password")

    def with_password(self, password: str) -> CloudSettings:
        remember_secret(password)
        return CloudSettings({**self.values, "password": password}, self.cloud)


def from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The OS_* variables an openrc file sets, by their clouds.yaml names."""
    values = {name: environ[f"OS_{name.upper()}"] for name in (*AUTH_FIELDS, *OTHER_FIELDS)
              if environ.get(f"OS_{name.upper()}")}  # fmt: skip
    if "token" not in values and environ.get("OS_AUTH_TOKEN"):
        values["token"] = environ["OS_AUTH_TOKEN"]
    if "interface" not in values and environ.get("OS_ENDPOINT_TYPE"):
        values["interface"] = environ["OS_ENDPOINT_TYPE"]
    return values


def from_clouds_yaml(cloud: str) -> dict[str, str]:
    """The named cloud of clouds.yaml (+ secure.yaml), read by openstacksdk's own loader."""
    import openstack.config
    import openstack.exceptions

    try:
        with warnings.catch_warnings():  # openstacksdk's own deprecations are not the user's
            warnings.simplefilter("ignore")
            config = openstack.config.OpenStackConfig().get_one(cloud=cloud, validate=False).config
    except openstack.exceptions.ConfigException:
        raise CloudNotFound(
            f"No clouds.yaml names the cloud {printable(cloud)!r} (looked at $OS_CLIENT_CONFIG_FILE, "
            "./clouds.yaml, ~/.config/openstack/clouds.yaml and /etc/openstack/clouds.yaml)."
        ) from None
    except (OSError, ValueError) as exc:  # an unreadable or malformed file
        raise LoginFailed(f"clouds.yaml could not be read: {printable(str(exc))}.") from None
    values = {k: str(v) for k, v in (config.get("auth") or {}).items() if k in AUTH_FIELDS and v}
    for name in OTHER_FIELDS:
        if config.get(name):
            values[name] = str(config[name])
    return values


def cloud_names(environ: Mapping[str, str] | None = None) -> list[str]:
    """What the window offers: ENVIRONMENT when an openrc was sourced, then clouds.yaml's
    clouds (an unreadable clouds.yaml offers none; choosing a cloud says why)."""
    environ = os.environ if environ is None else environ
    names = [ENVIRONMENT] if environ.get("OS_AUTH_URL") else []
    try:
        import openstack.config

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = set(openstack.config.OpenStackConfig().get_cloud_names())
        names += sorted(found - {"defaults", "envvars"})
    except Exception:  # a broken clouds.yaml must not keep the dialog from opening
        logger.info("clouds.yaml could not be read", exc_info=True)
    return names


def settings_for(choice: str, environ: Mapping[str, str] | None = None) -> CloudSettings:
    """The window's choice: ENVIRONMENT (the OS_* variables alone) or a cloud's name."""
    environ = os.environ if environ is None else environ
    if choice == ENVIRONMENT:
        return gather({}, {k: v for k, v in environ.items() if k != "OS_CLOUD"})
    return gather({"cloud": choice}, environ)


def gather(options: Mapping[str, str | None], environ: Mapping[str, str] | None = None) -> CloudSettings:
    """Settings in openstackclient's order: command-line options, then OS_* variables, then
    the cloud named by --os-cloud or OS_CLOUD in clouds.yaml."""
    environ = os.environ if environ is None else environ
    cloud = options.get("cloud") or environ.get("OS_CLOUD") or None
    values: dict[str, str] = from_clouds_yaml(cloud) if cloud else {}
    values.update(from_environment(environ))
    values.update({k: v for k, v in options.items() if v and k != "cloud"})
    for name in SECRET_FIELDS:
        if name in values:
            remember_secret(values[name])
    return CloudSettings(values, cloud)


@dataclass(frozen=True)
class LoginInfo:
    """What -v and the window show: never a secret."""

    cloud: str | None
    auth_type: str
    user: str | None
    project: str | None
    region: str | None
    interface: str
    endpoint: str

    def describe(self) -> str:
        return (f"cloud {self.cloud or ENVIRONMENT}, {self.auth_type} login, user {self.user or '-'}, "
                f"project {self.project or '-'}, region {self.region or 'any'}, "
                f"{self.interface} endpoint {redact(self.endpoint)}")  # fmt: skip


class KeystoneLogin:
    """A keystoneauth1 session that owns the login: `token()` is always a current token
    (renewed shortly before it expires), `invalidate()` forces a new one after a 401."""

    def __init__(self, settings: CloudSettings, ca_bundle: str | None = None, insecure: bool = False) -> None:
        from keystoneauth1 import session as ks_session

        self.settings = settings
        # keystoneauth's debug log carries request bodies and catalog dumps: -v shows our
        # one line about the login instead
        logging.getLogger("keystoneauth").setLevel(logging.INFO)
        if settings.needs_password:
            who = settings.get("username") or settings.get("user_id") or "the user"
            raise PasswordNeeded(f"The cloud {settings.cloud or ENVIRONMENT!r} needs the password of "
                                 f"{printable(who)}; give it (OS_PASSWORD or --os-password).")  # fmt: skip
        self.plugin = _plugin(settings)
        verify: bool | str = ca_bundle or settings.get("cacert") or _environment_ca() or True
        self.session = ks_session.Session(auth=self.plugin, verify=False if insecure else verify)
        self.session.session.trust_env = True  # proxies from the environment...
        self.session.session.auth = _NoNetrc()  # ...but never .netrc credentials
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock, _translated(self.settings):
            token = self.session.get_token()
        if not token:
            raise LoginFailed("Keystone answered the login without a token.")
        return check_token(token, "The token Keystone issued")

    def invalidate(self) -> None:
        with self._lock:
            self.plugin.invalidate()

    def image_endpoint(self) -> str:
        interface = self.settings.get("interface") or "public"
        region = self.settings.get("region_name")
        with _translated(self.settings):
            try:
                endpoint = self.session.get_endpoint(service_type="image", interface=interface,
                                                     region_name=region)  # fmt: skip
            except _endpoint_not_found():
                endpoint = None
        if not endpoint:
            where = f" in region {printable(region)}" if region else ""
            raise LoginFailed(f"The service catalog of {self._name()} has no {printable(interface)} "
                              f"image endpoint{where}; give one with --endpoint.")  # fmt: skip
        return str(endpoint)

    def info(self, endpoint: str) -> LoginInfo:
        with _translated(self.settings):
            access = self.plugin.get_access(self.session)
        return LoginInfo(
            self.settings.cloud, self.settings.auth_type, access.username, access.project_name,
            self.settings.get("region_name"), self.settings.get("interface") or "public", endpoint,
        )  # fmt: skip

    def _name(self) -> str:
        return f"the cloud {printable(self.settings.cloud)!r}" if self.settings.cloud else "the cloud"


class _NoNetrc:
    """A requests auth hook that adds nothing, so requests never looks at ~/.netrc."""

    def __call__(self, request: Any) -> Any:
        return request


def _environment_ca() -> str | None:
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE") or None


def _auth_url(settings: CloudSettings) -> str:
    url = (settings.get("auth_url") or "").rstrip("/")
    if urlsplit(url).scheme not in ("http", "https"):
        raise LoginFailed(f"The auth URL {printable(redact(url))!r} is not an http or https URL.")
    return url if url.endswith("/v3") else url + "/v3"


def _plugin(settings: CloudSettings) -> Any:
    from keystoneauth1.identity import v3

    url, get = _auth_url(settings), settings.get
    scope: dict[str, Any] = {
        k: get(k) for k in ("project_name", "project_id", "project_domain_name", "project_domain_id")
    }
    user: dict[str, Any] = {k: get(k) for k in ("username", "user_id", "user_domain_name", "user_domain_id")}
    if scope["project_name"] and not (scope["project_domain_name"] or scope["project_domain_id"]):
        scope["project_domain_id"] = "default"
    if user["username"] and not (user["user_domain_name"] or user["user_domain_id"]):
        user["user_domain_id"] = "default"
    kind = settings.auth_type
    if kind == "v3applicationcredential":
        if not get("application_credential_secret"):
            raise LoginFailed("An application credential needs its secret "
                              "(OS_APPLICATION_CREDENTIAL_SECRET).")  # fmt: skip
        return v3.ApplicationCredential(
            url, application_credential_id=get("application_credential_id"),
            application_credential_name=get("application_credential_name"),
            application_credential_secret=get("application_credential_secret") or "", **user,
        )  # fmt: skip
    if kind == "v3token":
        if not get("token"):
            raise LoginFailed("A token login needs the token (OS_TOKEN or --token-file).")
        return v3.Token(url, token=get("token") or "", **scope)
    if not (user["username"] or user["user_id"]):
        raise LoginFailed("A password login needs a user name (OS_USERNAME or --os-username).")
    return v3.Password(url, password=get("password") or "", **user, **scope)


def _endpoint_not_found() -> type[Exception]:
    from keystoneauth1 import exceptions

    return exceptions.EndpointNotFound


class _translated:
    """keystoneauth1's exceptions, as one sentence each; never a secret."""

    def __init__(self, settings: CloudSettings) -> None:
        self.settings = settings

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        from keystoneauth1 import exceptions as ks

        if exc is None or not isinstance(exc, ks.ClientException):
            return
        raise _sentence(self.settings, exc) from None


def _sentence(settings: CloudSettings, exc: Exception) -> LoginFailed:
    from keystoneauth1 import exceptions as ks

    host = urlsplit(settings.get("auth_url") or "").netloc or "Keystone"
    where = f"Keystone at {printable(host)}"
    if isinstance(exc, ks.SSLError):
        return LoginFailed(f"TLS verification failed for {where}; give the CA bundle that signed its "
                           "certificate with --ca-bundle or OS_CACERT.")  # fmt: skip
    if isinstance(exc, ks.ConnectFailure | ks.ConnectTimeout):
        return LoginFailed(f"Could not reach {where} ({type(exc).__name__}).")
    kind = settings.auth_type
    if isinstance(exc, ks.Unauthorized) or (
        isinstance(exc, ks.NotFound) and kind == "v3applicationcredential"
    ):
        if kind == "v3applicationcredential":  # a deleted one is a 404
            return LoginFailed(
                f"{where} refused the application credential: it is wrong, expired, or revoked."
            )
        if kind == "v3token":
            return LoginFailed(f"{where} refused the token: it is expired or revoked.")
        user = printable(settings.get("username") or settings.get("user_id") or "")
        return LoginFailed(f"{where} refused the password of user {user!r} (or that user or project).")
    if isinstance(exc, ks.http.HttpError):
        return LoginFailed(f"{where} answered {exc.http_status} to the login.")
    return LoginFailed(f"The login at {where} failed ({type(exc).__name__}).")
