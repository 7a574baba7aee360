"""Fixtures of the tests against the real Unleash server: its env lines and an admin client."""

from __future__ import annotations

import pytest

from tests.integration.unleash import admin_client, unleash_env


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    return unleash_env()


@pytest.fixture(scope="module")
def admin(env):
    with admin_client(env) as client:
        yield client
