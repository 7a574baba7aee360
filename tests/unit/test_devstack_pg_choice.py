"""Which PostgreSQL scripts/devstack.py runs the private cluster on: the system's 15+, else the embedded one."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.plans import ROOT


@pytest.fixture
def devstack(tmp_path, monkeypatch):
    """A fresh import of scripts/devstack.py with its state in tmp_path, and no PostgreSQL anywhere yet."""
    monkeypatch.setenv("DEVSTACK_RUN_DIR", str(tmp_path / "run"))
    for name in ("DEVSTACK_PG_BIN", "DEVSTACK_SYSTEM_PG", "UNLEASH_PORT", "DEVSTACK_PG_PORT"):
        monkeypatch.delenv(name, raising=False)
    spec = importlib.util.spec_from_file_location("devstack_under_test", ROOT / "scripts" / "devstack.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    module.installed = {"system": [], "embedded": None}
    monkeypatch.setattr(module, "_system_pg_dirs",
                        lambda explicit: ([Path(explicit)] if explicit else []) + module.installed["system"])
    monkeypatch.setattr(module, "_find_embedded_pg", lambda: module.installed["embedded"])
    return module


def fake_pg(root: Path, version: str) -> Path:
    """A bin directory whose postgres says it is `version` (initdb, pg_ctl and psql beside it)."""
    bin_dir = root / f"pg-{version}" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("initdb", "pg_ctl", "postgres", "psql"):
        program = bin_dir / name
        program.write_text(f"#!/bin/sh\necho '{name} (PostgreSQL) {version}'\n")
        program.chmod(0o755)
    return bin_dir


@pytest.fixture
def embedded(devstack, tmp_path):
    path = fake_pg(tmp_path, "18.6")
    devstack.installed["embedded"] = devstack.PgBin(path=path, major=18, version="PostgreSQL 18.6", embedded=True)
    return path


def test_a_system_postgresql_15_or_newer_is_preferred_to_the_embedded_one(devstack, embedded, tmp_path, capsys):
    devstack.installed["system"] = [fake_pg(tmp_path, "16.4")]
    chosen = devstack.find_pg_bin()
    assert (chosen.version, chosen.embedded) == ("PostgreSQL 16.4", False)
    assert capsys.readouterr().err == ""


def test_an_older_system_postgresql_is_passed_over_with_a_one_line_note(devstack, embedded, tmp_path, capsys):
    devstack.installed["system"] = [fake_pg(tmp_path, "14.12"), fake_pg(tmp_path, "13.16")]
    chosen = devstack.find_pg_bin()
    assert chosen.embedded and chosen.path == embedded
    note = capsys.readouterr().err
    assert note.count("\n") == 1
    assert "PostgreSQL 14.12" in note and "PostgreSQL 13.16" in note
    assert "older than 15 (Unleash 8 needs 15+); using the embedded PostgreSQL 18.6" in note


def test_system_pg_off_runs_the_embedded_one_even_beside_a_good_system_one(devstack, embedded, tmp_path,
                                                                            monkeypatch):
    devstack.installed["system"] = [fake_pg(tmp_path, "17.2")]
    monkeypatch.setenv("DEVSTACK_PG_BIN", str(devstack.installed["system"][0]))
    monkeypatch.setenv("DEVSTACK_SYSTEM_PG", "off")
    assert devstack.find_pg_bin().path == embedded


def test_a_too_old_devstack_pg_bin_is_refused_naming_the_setting(devstack, embedded, tmp_path, monkeypatch):
    monkeypatch.setenv("DEVSTACK_PG_BIN", str(fake_pg(tmp_path, "13.16")))
    with pytest.raises(devstack.DevstackError, match=r"DEVSTACK_PG_BIN=.*holds PostgreSQL 13.16; Unleash 8 needs 15"):
        devstack.find_pg_bin()


def test_an_existing_cluster_keeps_the_major_version_that_made_it(devstack, embedded, tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "PG_VERSION").write_text("16\n")
    devstack.installed["system"] = [fake_pg(tmp_path, "17.2"), fake_pg(tmp_path, "16.4")]
    assert devstack.find_pg_bin(data).version == "PostgreSQL 16.4"

    monkeypatch.setenv("DEVSTACK_SYSTEM_PG", "off")
    with pytest.raises(devstack.DevstackError) as refused:
        devstack.find_pg_bin(data)
    assert "was made by PostgreSQL 16, and no PostgreSQL 16 was found" in str(refused.value)
    assert "PostgreSQL 18.6, embedded" in str(refused.value)
    assert "down --purge" in str(refused.value)


def test_without_any_postgresql_it_says_that_make_unleash_installs_one(devstack):
    with pytest.raises(devstack.DevstackError, match=r"embedded one is not installed in .*`make unleash` installs it"):
        devstack.find_pg_bin()


def test_a_misspelt_switch_is_refused(devstack, embedded, monkeypatch):
    monkeypatch.setenv("DEVSTACK_SYSTEM_PG", "no")
    with pytest.raises(devstack.DevstackError, match="DEVSTACK_SYSTEM_PG must be `on` or `off`, got 'no'"):
        devstack.find_pg_bin()
