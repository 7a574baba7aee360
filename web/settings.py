"""Web settings: identity from the SSO proxy, the development sign-in, session signing."""

from __future__ import annotations

import ipaddress
import secrets

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLANNER_", env_file=".env", extra="ignore")

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
    secure_cookies: bool = False
    # background work beside the app: the opt-in pusher and the flag reader (off in some tests)
    background: bool = True
    push_interval: float = 1.0  # seconds between pushes of opt-in changes to Unleash (coalescing window)
    reader_refresh_interval: int = 1  # seconds between the reader's polls of Unleash

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for net in value:
            ipaddress.ip_network(net, strict=False)
        return value

    @model_validator(mode="after")
    def _session_secret(self) -> WebSettings:
        if not self.session_secret.get_secret_value():
            if not self.dev_login:
                raise ValueError("PLANNER_SESSION_SECRET must be set (a long random string) unless "
                                 "PLANNER_DEV_LOGIN=true")
            # development only: sessions last as long as the process
            self.session_secret = SecretStr(secrets.token_urlsafe(32))
        return self

    def is_trusted(self, host: str | None) -> bool:
        if not host:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(net, strict=False) for net in self.trusted_proxies)
