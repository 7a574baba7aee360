"""The settings: every one documented in the README's table with its default, and production mode refusing
development settings with one line naming each."""

from __future__ import annotations

import re

import pytest
from pydantic import SecretStr

from services.settings import Settings, SettingsInvalid
from tests.plans import ROOT

READ_ELSEWHERE = {"PLANNER_CHROMIUM"}  # read by views/pdf.py and the browser tests, not by Settings
STRONG = "k3J9-xv2Lq8Rz0Pw7Yt4Ns6Hd1Fb5Mc9Ua2Ge"


def env_name(name: str, field) -> str:
    return field.validation_alias.choices[0] if field.validation_alias is not None else f"PLANNER_{name.upper()}"


def table() -> dict[str, str]:
    """README's settings table: variable -> its default column."""
    text = (ROOT / "README.md").read_text().split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`"):
            for variable in re.findall(r"`([A-Z_]+)`", cells[0]):
                rows[variable] = cells[1]
    return rows


def test_every_setting_is_in_the_readme_table_and_every_row_is_a_setting():
    documented = table()
    fields = {env_name(name, field): field for name, field in Settings.model_fields.items()}
    assert set(fields) - set(documented) == set(), "settings the README does not document"
    assert set(documented) - set(fields) - READ_ELSEWHERE == set(), "README rows for no setting"
    for variable, field in fields.items():
        default = field.default.get_secret_value() if isinstance(field.default, SecretStr) else field.default
        if isinstance(default, bool):
            assert str(default).lower() in documented[variable], variable
        elif isinstance(default, int | float) and default:
            assert f"{default:g}" in documented[variable], variable
        elif isinstance(default, str) and default:
            assert default in documented[variable], variable


def production(**values) -> Settings:
    base = {"env": "production", "session_secret": SecretStr(STRONG), "trusted_proxies": ["10.0.0.5/32"]}
    return Settings(**{**base, **values})


def test_production_with_production_settings_starts():
    assert production().production_problems(bind_host="0.0.0.0") == []
    assert Settings(dev_login=True).production_problems(bind_host="0.0.0.0") == []  # development: anything goes


@pytest.mark.parametrize(("values", "host", "named"), [
    ({"dev_login": True}, "127.0.0.1", "PLANNER_DEV_LOGIN"),
    ({"session_secret": SecretStr("")}, "127.0.0.1", "PLANNER_SESSION_SECRET is not set"),
    ({"session_secret": SecretStr("short")}, "127.0.0.1", "PLANNER_SESSION_SECRET is too weak"),
    ({"session_secret": SecretStr("x" * 40)}, "127.0.0.1", "PLANNER_SESSION_SECRET is too weak"),
    ({"secure_cookies": False}, "127.0.0.1", "PLANNER_INSECURE_COOKIES=true"),
    ({"trusted_proxies": ["127.0.0.1/32", "::1/128"]}, "0.0.0.0", "PLANNER_TRUSTED_PROXIES is loopback only"),
])
def test_production_refuses_each_development_setting_with_one_line_naming_it(values, host, named):
    problems = production(**values).production_problems(bind_host=host)
    assert len(problems) == 1 and named in problems[0] and "\n" not in problems[0]
    assert STRONG not in problems[0]


def test_insecure_cookies_said_on_purpose_and_loopback_proxies_on_loopback_are_fine():
    assert production(secure_cookies=False, insecure_cookies=True).production_problems() == []
    assert production(trusted_proxies=["127.0.0.1/32"]).production_problems(bind_host="127.0.0.1") == []


def test_the_web_app_refuses_to_start_in_production_with_the_development_sign_in():
    with pytest.raises(SettingsInvalid, match="PLANNER_DEV_LOGIN"):
        production(dev_login=True).for_web()


def test_planner_serve_in_production_refuses_with_one_line_per_setting_and_starts_nothing(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "PLANNER_ENV": "production", "PLANNER_DEV_LOGIN": "true",
           "PLANNER_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    env.pop("PLANNER_SESSION_SECRET", None)
    done = subprocess.run([str(Path(sys.executable).parent / "planner"), "serve", "--host", "0.0.0.0", "--port", "1"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 78
    lines = done.stderr.strip().splitlines()
    assert [line.split(":", 2)[1].split()[0].split("=")[0] for line in lines] == [
        "PLANNER_DEV_LOGIN", "PLANNER_SESSION_SECRET", "PLANNER_TRUSTED_PROXIES"]
    assert "Traceback" not in done.stderr
