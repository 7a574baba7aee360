"""The management report: one printable page with goals and their KPIs, phases, reach, resources, training and
the guidelines accepted; `planner report --pdf` prints it through Chromium as a PDF of one to two pages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from datetime import UTC, datetime

import pytest

from planner.db import session_scope
from planner.plans import apply_plan
from services import kpis
from services.report import report
from tests.plans import demo_plan
from views.report import render_report

PLANNER = str(Path(sys.executable).parent / "planner")


@pytest.fixture
def demo_db(database_url):
    with session_scope(database_url) as session:
        apply_plan(session=session, plan=demo_plan(), actor="seed")
    kpis.enter_value(database_url=database_url, key="intranet-rollout", kpi="satisfaction", value=4.2,
                     at=datetime.now(UTC), actor="lead-1", note="pilot survey", sample=38)
    return database_url


def test_the_report_shows_goals_phases_reach_resources_training_and_guidelines(demo_db):
    page = render_report(report(database_url=demo_db, key="intranet-rollout"))
    assert "HR: People connect across departments" in page and "0 of 2 KPIs met" in page
    assert "Management: The platform is worth its budget" in page and "1 of 1 KPI met" in page
    assert "4.2 of 5 entered on" in page and page.count("<svg") >= 4  # a small chart per KPI
    assert "Wave 1" in page and "07 Dec 2026" in page  # phases with status and dates
    assert "Pilot group" in page and "0 / 50" in page  # reach
    assert "20,000" in page and "7,400" in page and "37 % of the planned budget spent" in page
    assert "1 session held (31 attended), 1 planned." in page
    assert "Guidelines (version 1) accepted by" in page
    assert "@media print" in page and "<script" not in page  # printable, self-contained


def test_planner_report_writes_a_pdf_of_one_to_two_pages(demo_db, tmp_path):
    out = tmp_path / "report.pdf"
    done = subprocess.run([PLANNER, "report", "intranet-rollout", "--pdf", str(out)], capture_output=True, text=True,
                          timeout=180, env={**os.environ, "PLANNER_DATABASE_URL": demo_db})
    assert done.returncode == 0, done.stdout + done.stderr
    data = out.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert 1 <= pages <= 2, pages


def test_planner_report_without_a_target_says_what_to_give(demo_db):
    done = subprocess.run([PLANNER, "report", "intranet-rollout"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PLANNER_DATABASE_URL": demo_db})
    assert done.returncode != 0 and "--pdf FILE or --html FILE" in done.stdout + done.stderr
