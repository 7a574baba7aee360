"""compose.yaml cannot run here (no Docker engine); check that it is consistent with the project."""

import json

import yaml

from tests.plans import ROOT


def test_compose_runs_the_pinned_unleash_beside_postgres_and_the_planner():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "unleash", "planner"}
    pinned = json.loads((ROOT / "unleash" / "package.json").read_text())["dependencies"]["unleash-server"]
    assert services["unleash"]["image"] == f"unleashorg/unleash-server:{pinned}"
    assert (ROOT / services["planner"].get("build", ".") / "Dockerfile").exists()
    for volume in services["db"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (ROOT / source).exists(), source
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), "published ports stay on loopback"
