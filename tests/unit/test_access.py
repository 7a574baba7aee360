"""The access rule: who sees what, when — including property-based checks over random plans."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from planner.access import access, access_starts
from planner.model import Cohort, CohortKind, Feature, Grant, Phase, PhaseStatus, Plan
from tests.plans import demo_plan

T0 = datetime(2027, 1, 1, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_demo_plan_before_pilot_nobody_sees_anything():
    assert access(demo_plan(), at=at("2026-11-02T07:59:59+01:00")) == {}


def test_demo_plan_at_pilot_start_pilot_and_champions_get_pilot_features_and_the_preview():
    got = set(access(demo_plan(), at=at("2026-11-02T08:00:00+01:00")))
    assert got == {("pilot", "innovation-blog"), ("pilot", "wiki"), ("champions", "innovation-blog"),
                   ("champions", "wiki"), ("champions", "microblog")}


def test_wave_one_admits_hr_to_earlier_features_and_widens_the_preview():
    got = access(demo_plan(), at=at("2026-12-07T08:00:00+01:00"))
    assert ("hr", "wiki") in got and ("hr", "microblog") in got and ("pilot", "microblog") in got
    assert got[("hr", "wiki")].describe() == "admitted by phase 'wave-1', feature enabled by phase 'pilot'"
    assert got[("champions", "microblog")].preview  # the earlier preview stays the reason
    assert ("all", "wiki") not in got


def test_paused_phase_takes_back_what_it_gave():
    plan = demo_plan()
    paused = plan.model_copy(update={"phases": (plan.phases[0], plan.phases[1].model_copy(
        update={"status": PhaseStatus.paused}), plan.phases[2])})
    got = access(paused, at=at("2026-12-10T08:00:00+01:00"))
    assert ("hr", "wiki") not in got and ("pilot", "microblog") not in got
    assert ("champions", "microblog") in got


def test_naive_instant_is_refused():
    import pytest

    with pytest.raises(ValueError):
        access(demo_plan(), at=datetime(2027, 1, 1))


@st.composite
def plans(draw):
    n_features = draw(st.integers(1, 5))
    n_cohorts = draw(st.integers(1, 5))
    features = [f"f{i}" for i in range(n_features)]
    cohorts = [f"c{i}" for i in range(n_cohorts)]
    offsets = sorted(draw(st.sets(st.integers(0, 1000), min_size=1, max_size=6)))
    phases = []
    for i, offset in enumerate(offsets):
        grants = draw(st.lists(st.builds(lambda f, cs: Grant(feature=f, cohorts=tuple(cs)), st.sampled_from(features),
                                         st.lists(st.sampled_from(cohorts), min_size=1, max_size=2, unique=True)),
                               max_size=2))
        phases.append(Phase(
            key=f"p{i}", starts=T0 + timedelta(hours=offset),
            cohorts=tuple(draw(st.lists(st.sampled_from(cohorts), unique=True, max_size=3))),
            features=tuple(draw(st.lists(st.sampled_from(features), unique=True, max_size=3))),
            grants=tuple(grants), status=draw(st.sampled_from(list(PhaseStatus)))))
    return Plan(plan="p", features=tuple(Feature(key=f) for f in features),
                cohorts=tuple(Cohort(key=c, kind=CohortKind.everyone) for c in cohorts), phases=tuple(phases))


instants = st.integers(-10, 1010).map(lambda h: T0 + timedelta(hours=h))


@settings(max_examples=300)
@given(plans(), instants, instants)
def test_access_never_narrows_over_planned_time(plan, t1, t2):
    early, late = sorted((t1, t2))
    assert set(access(plan, at=early)) <= set(access(plan, at=late))


@settings(max_examples=300)
@given(plans(), instants)
def test_a_cohort_sees_a_feature_iff_some_started_phase_grants_it(plan, t):
    started = [p for p in plan.phases if p.status.grants_access and p.starts <= t]
    admitted = {c for p in started for c in p.cohorts}
    enabled = {f for p in started for f in p.features}
    expected = {(c, f) for c in admitted for f in enabled}
    expected |= {(c, g.feature) for p in started for g in p.grants for c in g.cohorts}
    assert set(access(plan, at=t)) == expected


@settings(max_examples=200)
@given(plans())
def test_access_begins_exactly_at_the_recorded_start(plan):
    for pair, reason in access_starts(plan).items():
        assert pair in access(plan, at=reason.starts)
        assert pair not in access(plan, at=reason.starts - timedelta(milliseconds=1))
