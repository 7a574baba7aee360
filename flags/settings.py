"""How to reach Unleash: read from UNLEASH_* environment variables or a .env file."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class UnleashSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UNLEASH_", env_file=".env", extra="ignore")

    url: str = "http://127.0.0.1:4242/api"
    admin_token: SecretStr = SecretStr("")
    client_token: SecretStr = SecretStr("")
    timeout: float = 10.0

    def admin(self):
        from flags.admin import UnleashAdmin

        if not self.admin_token.get_secret_value():
            raise RuntimeError("UNLEASH_ADMIN_TOKEN is not set: create an admin token in Unleash "
                               "(or run `make unleash`, which prints one) and export it")
        return UnleashAdmin(self.url, self.admin_token.get_secret_value(), timeout=self.timeout)
