"""Soundness, completeness and optimality of single selection on generated catalogs.

- every feasible answer (choice and alternatives) passes the independent validator;
- whenever the brute-force reference finds a legal pair, the solver answers, with an equal key;
- every infeasible verdict is confirmed by brute force (no legal pair exists);
- the reference finds no legal pair that the core cannot even represent or score;
- the fast path and the CP-SAT path return the same answer.
"""

from __future__ import annotations

from itertools import permutations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_props_catalogs import catalogs, inventory_data, request_data, scenarios

from solver import Policy, parse_inventory, parse_request, select
from solver.check.reference import brute_force
from solver.check.validate import validate_selection

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ORDERS = list(permutations(("cached", "newest", "fit", "gpus", "preference")))


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    order = draw(st.sampled_from([ORDERS[0], *ORDERS[1::17]]))
    clusters = draw(st.sampled_from([(), ("c2",), ("c1", "c2")]))
    return Policy(order=order, prefer_clusters=clusters)


@PROPS
@given(scenarios(), policies(), st.integers(1, 3))
def test_every_answer_passes_the_validator(scenario, policy, top) -> None:
    cat, req_data, inv_data = scenario
    req, inv = parse_request(req_data), parse_inventory(inv_data, catalog=cat)
    answer = select(cat, req, inv, top=top, policy=policy)
    assert validate_selection(cat, req, inv, answer) == []
    if answer.feasible:
        assert len(answer.alternatives) <= top - 1


@PROPS
@given(scenarios(), policies())
def test_solver_matches_brute_force(scenario, policy) -> None:
    cat, req_data, inv_data = scenario
    req, inv = parse_request(req_data), parse_inventory(inv_data, catalog=cat)
    answer = select(cat, req, inv, policy=policy)
    ref = brute_force(cat, req, inv, policy=policy)
    assert ref.disagreements == ()
    assert answer.feasible == ref.feasible, (answer.to_dict(), ref.best)
    if ref.feasible:
        assert ref.best is not None and answer.choice is not None
        assert answer.choice.key == ref.best.key, (answer.choice, ref.best)
    else:
        assert answer.conflicts, "an infeasible answer must name its conflicts"


@PROPS
@given(catalogs().flatmap(lambda cat: st.tuples(st.just(cat), request_data(cat))), policies())
def test_planning_mode_matches_brute_force(data, policy) -> None:
    cat, req_data = data
    req = parse_request(req_data)
    answer = select(cat, req, None, top=2, policy=policy)
    assert validate_selection(cat, req, None, answer) == []
    ref = brute_force(cat, req, None, policy=policy)
    assert ref.disagreements == ()
    assert answer.feasible == ref.feasible
    if ref.feasible:
        assert answer.choice is not None and ref.best is not None and answer.choice.key == ref.best.key


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalogs().flatmap(lambda cat: st.tuples(st.just(cat), request_data(cat), inventory_data(cat, max_nodes=6))),
       policies(), st.integers(1, 3))
def test_fast_path_equals_cpsat_path(data, policy, top) -> None:
    cat, req_data, inv_data = data
    req, inv = parse_request(req_data), parse_inventory(inv_data, catalog=cat)
    fast = select(cat, req, inv, top=top, policy=policy)
    cpsat = select(cat, req, inv, top=top,
                   policy=Policy(order=policy.order, prefer_clusters=policy.prefer_clusters, engine="cpsat"))
    assert fast.feasible == cpsat.feasible
    if fast.feasible:
        assert cpsat.status == "optimal"
        assert fast.choice == cpsat.choice
        assert [a.key for a in fast.alternatives] == [a.key for a in cpsat.alternatives]
        assert fast.to_dict()["choice"] == cpsat.to_dict()["choice"]
