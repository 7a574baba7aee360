"""The access rule: who sees what, when — including property-based checks over random plans."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from planner.access import access, access_starts
import pytest

from planner.errors import PhaseActionRefused
from planner.lifecycle import Action, apply, effective_start
from planner.model import Cohort, CohortKind, Feature, Grant, Phase, Plan
from tests.plans import demo_plan, gates_passed

T0 = datetime(2027, 1, 1, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_demo_plan_before_pilot_nobody_sees_anything():
    assert access(demo_plan(), at=at("2026-11-02T07:59:59+01:00")) == {}


def test_demo_plan_at_pilot_start_pilot_and_champions_get_pilot_features_and_the_preview():
    got = set(access(demo_plan(), at=at("2026-11-02T08:00:00+01:00")))
    assert got == {("pilot", "innovation-blog"), ("pilot", "wiki"), ("champions", "innovation-blog"),
                   ("champions", "wiki"), ("champions", "microblog")}


def test_a_gated_phase_gives_nothing_until_its_gate_passes():
    plan = demo_plan()
    shut = access(plan, at=at("2027-03-01T08:00:00+01:00"))
    assert not {c for c, _f in shut} & {"hr", "sales-quarter"}  # wave 1 waits for its gate
    assert ("all", "communities") in shut  # the phase after it has no gate: it starts by its date


def test_wave_one_admits_hr_to_earlier_features_and_widens_the_preview():
    plan = demo_plan()
    got = access(plan, at=at("2026-12-07T08:00:00+01:00"), controls=gates_passed(plan))
    assert ("hr", "wiki") in got and ("hr", "microblog") in got and ("pilot", "microblog") in got
    assert got[("hr", "wiki")].describe() == "admitted by phase 'wave-1', feature enabled by phase 'pilot'"
    assert got[("hr", "wiki")].describe(plan) == "admitted by phase “Wave 1”, feature enabled by phase “Pilot”"
    assert got[("champions", "microblog")].preview  # the earlier preview stays the reason
    assert ("all", "wiki") not in got


def test_a_rolled_back_phase_takes_back_what_it_gave():
    plan = demo_plan()
    controls = apply(plan, gates_passed(plan), Action.rollback, "wave-1", at=at("2026-12-08T08:00:00+01:00"),
                     actor="lead", reason="HR asked to wait")
    got = access(plan, at=at("2026-12-10T08:00:00+01:00"), controls=controls)
    assert ("hr", "wiki") not in got and ("pilot", "microblog") not in got
    assert ("champions", "microblog") in got


def test_a_phase_held_before_its_start_gives_nothing_and_holds_every_later_phase():
    plan = demo_plan()
    controls = apply(plan, {}, Action.hold, "wave-1", at=at("2026-12-01T08:00:00+01:00"), actor="lead",
                     reason="not ready")
    assert {k: c.cause for k, c in controls.items()} == {"wave-1": "", "general": "wave-1"}
    got = access(plan, at=at("2027-06-01T08:00:00+01:00"), controls=controls)
    assert got == access(plan, at=at("2026-12-07T07:59:00+01:00"))  # as before wave 1, for ever
    assert apply(plan, controls, Action.resume, "wave-1", at=at("2026-12-02T08:00:00+01:00"), actor="lead") == {}


def test_lead_actions_say_why_they_cannot_be_done():
    plan = demo_plan()
    before = at("2026-12-01T08:00:00+01:00")
    with pytest.raises(PhaseActionRefused, match="nothing to roll back"):
        apply(plan, {}, Action.rollback, "wave-1", at=before, actor="lead", reason="x")
    with pytest.raises(PhaseActionRefused, match="reason is required"):
        apply(plan, {}, Action.hold, "wave-1", at=before, actor="lead")
    held = apply(plan, {}, Action.hold, "wave-1", at=before, actor="lead", reason="wait")
    with pytest.raises(PhaseActionRefused, match="because of Wave 1; resume Wave 1 instead"):
        apply(plan, held, Action.resume, "general", at=before, actor="lead")
    with pytest.raises(PhaseActionRefused, match="no phase 'nope'"):
        apply(plan, {}, Action.hold, "nope", at=before, actor="lead", reason="x")


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
            grants=tuple(grants)))
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
    started = [p for p in plan.phases if p.starts <= t]
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


@st.composite
def actions(draw, plan):
    """Leads' actions at random instants, each one the lifecycle allows at its moment, and the controls after."""
    controls, now = {}, T0 - timedelta(hours=20)
    for _ in range(draw(st.integers(0, 4))):
        now += timedelta(hours=draw(st.integers(0, 300)))
        action = draw(st.sampled_from(list(Action)))
        phase = draw(st.sampled_from([p.key for p in plan.phases]))
        try:
            controls = apply(plan, controls, action, phase, at=now, actor="lead", reason="why")
        except PhaseActionRefused:
            pass
    return controls, now


@settings(max_examples=150)
@given(st.data())
def test_with_any_actions_access_never_narrows_over_time_and_begins_at_its_start(data):
    plan = data.draw(plans())
    controls, _ = data.draw(actions(plan))
    t1, t2 = sorted((data.draw(instants), data.draw(instants)))
    assert set(access(plan, at=t1, controls=controls)) <= set(access(plan, at=t2, controls=controls))
    for pair, reason in access_starts(plan, controls).items():
        assert pair in access(plan, at=reason.starts, controls=controls)
        assert pair not in access(plan, at=reason.starts - timedelta(milliseconds=1), controls=controls)


@settings(max_examples=150)
@given(st.data())
def test_a_roll_back_returns_to_exactly_what_was_given_before_the_phase_started(data):
    plan = data.draw(plans())
    phase = data.draw(st.sampled_from(plan.phases))
    when = phase.starts + timedelta(hours=data.draw(st.integers(0, 500)))
    controls = apply(plan, {}, Action.rollback, phase.key, at=when, actor="lead", reason="why")
    before = access(plan, at=phase.starts - timedelta(milliseconds=1))
    for t in (when, when + timedelta(days=400)):
        assert access(plan, at=t, controls=controls) == before


@settings(max_examples=150)
@given(st.data())
def test_a_hold_keeps_what_was_given_and_stops_every_phase_from_it_on_that_had_not_started(data):
    plan = data.draw(plans())
    phase = data.draw(st.sampled_from(plan.phases))
    when = T0 + timedelta(hours=data.draw(st.integers(-10, 1010)))
    controls = apply(plan, {}, Action.hold, phase.key, at=when, actor="lead", reason="why")
    order = [p.key for p in plan.phases]
    frozen = {p.key for p in plan.phases[order.index(phase.key):] if effective_start(p, {}) > when}
    without = plan.model_copy(update={"phases": tuple(p for p in plan.phases if p.key not in frozen)})
    for t in (when, when + timedelta(hours=data.draw(st.integers(0, 1000)))):
        assert access(plan, at=t, controls=controls) == access(without, at=t)
    assert apply(plan, controls, Action.resume, phase.key, at=when, actor="lead") == {}
