"""The review-loop benchmark's simulated annotator (benchmarks/loop_oracle.py): what it accepts,
adjusts, rejects and accepts as the other class, and what each costs. The loop's figures in
benchmarks/RESULTS.md stand on these rules."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pfes_core.review_supervision import MAE_SCORE, ME_SCORE, review_targets
from pfes_core.types import Interval


def _oracle_module():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "loop_oracle.py"
    spec = importlib.util.spec_from_file_location("loop_oracle", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TRUTH = {"v": [Interval("v", "MaE", 10, 25, 40), Interval("v", "ME", 100, 106, 112),
               Interval("v", "MaE", 200, 215, 230)]}
PROPOSALS = {"v": [Interval("v", "MaE", 12, 24, 38, 0.9),      # the MaE at 10-40: accept
                   Interval("v", "MaE", 98, 107, 118, 0.8),    # a MaE proposal on the ME
                   Interval("v", "MaE", 300, 310, 320, 0.7),   # nothing there: reject
                   Interval("v", "MaE", 205, 212, 222, 0.6)]}  # IoU 0.57 with 200-230: accept


def test_without_reclass_a_proposal_on_the_other_class_is_rejected():
    oracle = _oracle_module().Oracle(TRUTH)
    assert oracle.review(PROPOSALS, budget=10) == {"accepted": 2, "rejected": 2, "adjusted": 0,
                                                   "other_class": 0}
    assert oracle.actions == 4 and len(oracle.found) == 2
    assert oracle.points("v") == [(24, 0), (212, 0)]


def test_reclass_accepts_it_as_the_other_class_for_one_action():
    mod = _oracle_module()
    oracle = mod.Oracle(TRUTH, reclass=True)
    assert oracle.review(PROPOSALS, budget=10) == {"accepted": 2, "rejected": 1, "adjusted": 0,
                                                   "other_class": 1}
    assert oracle.actions == 4
    assert mod.expression_key(TRUTH["v"][1]) in oracle.found
    assert oracle.points("v") == [(24, 0), (107, 1), (212, 0)]       # an ME point at the apex
    # stored as the desk stores it: a rejection of the MaE proposal, which with the ME point
    # becomes a MaE-score negative and no ME-score negative
    decisions = oracle.decisions()
    assert [(d.cls, d.onset, d.status) for d in decisions if d.status == "rejected"] == [
        ("MaE", 98, "rejected"), ("MaE", 300, "rejected")]
    neg = review_targets(decisions, oracle.points("v"), 400).negatives
    assert neg[98:119, MAE_SCORE].all() and not neg[:, ME_SCORE].any()


def test_an_expression_found_before_is_not_taken_again_as_the_other_class():
    oracle = _oracle_module().Oracle(TRUTH, reclass=True)
    oracle.review({"v": [PROPOSALS["v"][1]]}, budget=5)
    again = Interval("v", "MaE", 99, 105, 116, 0.5)
    assert oracle.review({"v": [again]}, budget=5)["other_class"] == 0
    assert oracle.points("v") == [(107, 1)]


def test_the_budget_counts_every_decision():
    oracle = _oracle_module().Oracle(TRUTH, reclass=True)
    assert sum(oracle.review(PROPOSALS, budget=2).values()) == 2


def test_what_proposals_leave_of_the_budget_goes_to_looks_one_action_each():
    mod = _oracle_module()
    oracle = mod.Oracle(TRUTH)
    assert mod.budget_left(oracle.review(PROPOSALS, budget=20), 20) == 16
    # a run that proposed nothing: the whole budget is looks at its candidate runs, best first
    oracle = mod.Oracle(TRUTH)
    left = mod.budget_left(oracle.review({"v": []}, budget=3), 3)
    candidates = {"v": [Interval("v", "ME", 101, 105, 110, 0.3),     # the ME's apex 106 is inside
                        Interval("v", "MaE", 300, 310, 320, 0.2),    # nothing there
                        Interval("v", "MaE", 12, 20, 30, 0.1),       # the MaE at 10-40
                        Interval("v", "MaE", 201, 214, 229, 0.05)]}  # past the budget
    assert left == 3 and oracle.visit_misses(candidates, {"v": []}, left) == 2
    assert oracle.actions == 3 and len(oracle.found) == 2
    assert oracle.points("v") == [(25, 0), (106, 1)]       # clicked at the true apexes


def test_quantile_order_gives_each_class_review_in_its_share_of_the_proposals():
    mod = _oracle_module()
    mae = [Interval("v", "MaE", 10 * i, 10 * i + 3, 10 * i + 6, 0.9 - 0.01 * i) for i in range(6)]
    me = [Interval("v", "ME", 500 + 10 * i, 503 + 10 * i, 506 + 10 * i, 0.4 - 0.01 * i) for i in range(2)]
    assert mod.review_order(mae + me, "score")[:6] == mae             # every ME scores under every MaE
    order = mod.review_order(mae + me, "quantile")
    assert [p.cls for p in order[:4]] == ["MaE", "MaE", "ME", "MaE"]  # the best ME at its rank 1/4, ties by score
    assert order.index(me[1]) < order.index(mae[-1])
    assert sorted(order, key=lambda p: (p.cls, p.onset)) == sorted(mae + me, key=lambda p: (p.cls, p.onset))
