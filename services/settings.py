"""The planner's settings, read once at start-up from the environment (or a .env file) into one object.

`PLANNER_*` variables configure the planner itself; `UNLEASH_*` how to reach Unleash, named as the SDKs
name them. Unsafe values are refused with one line naming the setting.
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsInvalid(ValueError):
    """A setting that the planner refuses to start with; the message names it."""


def _unleash(name: str):
    return AliasChoices(f"UNLEASH_{name.upper()}", f"unleash_{name}")


MIN_SECRET = 32
WEAK_SECRETS = {"change-me", "changeme", "secret", "password", "development", "test"}
LOOPBACK = {4: ipaddress.ip_network("127.0.0.0/8"), 6: ipaddress.ip_network("::1/128")}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may be reached from elsewhere


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLANNER_", env_file=".env", extra="ignore", populate_by_name=True)

    # `production` refuses to start with development settings (see `production_problems`)
    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///planner.db"

    # Unleash: the API URL as the SDKs take it, an admin token for syncs, a backend token for runtime reads
    unleash_url: str = Field("http://127.0.0.1:4242/api", validation_alias=_unleash("url"))
    unleash_admin_token: SecretStr = Field(SecretStr(""), validation_alias=_unleash("admin_token"))
    unleash_client_token: SecretStr = Field(SecretStr(""), validation_alias=_unleash("client_token"))
    unleash_timeout: float = Field(10.0, validation_alias=_unleash("timeout"))

    # the header the company's SSO proxy sets to the signed-in user's id, and the one with their groups
    identity_header: str = "X-Forwarded-User"
    groups_header: str = "X-Forwarded-Groups"
    lead_group: str = "planner-leads"
    # user attributes the proxy passes on, as {context property: header}, e.g. {"department": "X-User-Department"}
    property_headers: dict[str, str] = {"department": "X-User-Department", "location": "X-User-Location"}
    # only requests from these addresses may carry the identity header (the proxy in front of the planner)
    trusted_proxies: list[str] = ["127.0.0.1/32", "::1/128"]
    # a sign-in form for running the planner alone; never on behind a real SSO proxy
    dev_login: bool = False
    session_secret: SecretStr = SecretStr("")
    # the session cookie only over HTTPS; unset: yes, unless the development sign-in is on (plain http)
    secure_cookies: bool | None = None
    # production only: yes, the session cookie may go over plain http:// (a TLS-terminating proxy on this host)
    insecure_cookies: bool = False
    # background work beside the app: the opt-in pusher, the flag reader, sync jobs (off in some tests)
    background: bool = True
    push_interval: float = 1.0  # seconds between pushes of opt-in changes to Unleash (coalescing window)
    # the planner's own flag reader ("My features"): seconds between its polls of Unleash while it runs, and
    # how long it runs after the last use (an idle planner polls nothing)
    reader_refresh_interval: int = 15
    reader_idle_seconds: float = 300.0
    # a running sync renews its lease this often; a lease not renewed for `sync_lease_seconds` is a dead
    # process's, and its job is marked abandoned
    sync_heartbeat_seconds: float = 5.0
    sync_lease_seconds: float = 30.0
    # the controller (one leader among all processes): seconds between its rounds, and between two reads of
    # the whole of Unleash looking for hand edits (drift); off, `planner tick` from cron runs the rounds
    controller: bool = True
    controller_interval: float = Field(5.0, gt=0)
    drift_check_seconds: float = Field(60.0, gt=0)
    # every log line as one JSON object (for a log collector), or as plain text
    log_format: Literal["text", "json"] = "text"
    # where `planner serve --workers N` keeps the workers' metric files (a fresh folder in it per start)
    metrics_dir: str = ""

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            ipaddress.ip_network(net, strict=False)
        return value

    @field_validator("sync_lease_seconds")
    @classmethod
    def _lease(cls, value: float, info) -> float:
        heartbeat = info.data.get("sync_heartbeat_seconds", 5.0)
        if value < 2 * heartbeat:
            raise ValueError(f"must be at least twice PLANNER_SYNC_HEARTBEAT_SECONDS ({heartbeat})")
        return value

    def production_problems(self, *, bind_host: str | None = None) -> list[str]:
        """With PLANNER_ENV=production, each development setting the planner refuses, one line naming it;
        `bind_host` is the address `planner serve` listens on."""
        if self.env != "production":
            return []
        problems = []
        if self.dev_login:
            problems.append("PLANNER_DEV_LOGIN=true: the development sign-in lets anyone sign in as anyone; "
                            "turn it off in production (sign-in comes from the SSO proxy)")
        secret = self.session_secret.get_secret_value()
        if len(secret) < MIN_SECRET or secret.lower() in WEAK_SECRETS or len(set(secret)) < 8:
            problems.append(f"PLANNER_SESSION_SECRET is {'not set' if not secret else 'too weak'}: give it a random "
                            f"string of at least {MIN_SECRET} characters, e.g. `python -c 'import secrets; "
                            "print(secrets.token_urlsafe(32))'`")
        if self.secure_cookies is False and not self.insecure_cookies:
            problems.append("PLANNER_SECURE_COOKIES=false sends the session cookie over plain http://; set "
                            "PLANNER_INSECURE_COOKIES=true if that is meant (a TLS proxy on this host)")
        loopback_only = all(ipaddress.ip_network(net, strict=False).subnet_of(LOOPBACK[ipaddress.ip_network(
            net, strict=False).version]) for net in self.trusted_proxies)
        if bind_host is not None and loopback_only and not _is_loopback(bind_host):
            problems.append(f"PLANNER_TRUSTED_PROXIES is loopback only while the planner listens on {bind_host}: "
                            "name the address of the SSO proxy in front of it, e.g. [\"10.0.0.5/32\"]")
        return problems

    def for_web(self) -> Settings:
        """These settings, checked for serving the web app: refuses what would make sessions unsafe."""
        problems = self.production_problems()
        if problems:
            raise SettingsInvalid(problems[0])
        if self.session_secret.get_secret_value():
            return self
        if not self.dev_login:
            raise SettingsInvalid("PLANNER_SESSION_SECRET must be set (a long random string) unless "
                                  "PLANNER_DEV_LOGIN=true")
        # development only: sessions last as long as the process
        return self.model_copy(update={"session_secret": SecretStr(secrets.token_urlsafe(32))})

    @property
    def cookies_secure(self) -> bool:
        return self.secure_cookies if self.secure_cookies is not None else not self.dev_login

    def is_trusted(self, host: str | None) -> bool:
        if not host:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(net, strict=False) for net in self.trusted_proxies)

    @property
    def environment(self) -> str:
        """The Unleash environment the client token reads (`project:environment.secret`)."""
        token = self.unleash_client_token.get_secret_value()
        return token.split(":", 1)[-1].split(".", 1)[0] if token else ""

    def admin(self):
        """A new admin client (the caller closes it; the web app keeps one per process)."""
        from flags.admin import UnleashAdmin
        from planner.errors import NotConfigured

        token = self.unleash_admin_token.get_secret_value()
        if not token:
            raise NotConfigured("UNLEASH_ADMIN_TOKEN is not set: create an admin token in Unleash (or run "
                                "`make unleash`, which prints one) and export it")
        return UnleashAdmin(self.unleash_url, token, timeout=self.unleash_timeout)
