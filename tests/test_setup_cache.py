"""The setup cache (:class:`tests.helpers.SetupCache`) keeps fixture setups between tests unseen.

The tests of this module run in order, one after the other on one worker (an xdist group), and
each checks what the ones before it left on the chain: a setup runs for the first test that needs
it and is kept for the next; what a test does on top of it is gone for the next; a setup a test
does not ask for is reverted before it starts. Run alone, a test that needs its predecessors skips.
"""

from __future__ import annotations

from typing import Any

import pytest
from web3.contract import Contract

from dfmi_py.chain import Chain
from tests.helpers import Roles, SetupCache

pytestmark = pytest.mark.xdist_group("setup-cache")

#: What the setups did so far, and what the tests saw.
SEEN: dict[str, Any] = {"deploys": 0, "rounds": 0}


@pytest.fixture
def feed(request: pytest.FixtureRequest, setup_cache: SetupCache, chain: Chain, roles: Roles) -> Contract:
    """A mock feed with no round: the first setup."""

    def deploy() -> Contract:
        SEEN["deploys"] += 1
        contract, _ = chain.deploy("MockAggregator", [], roles.admin)
        return contract

    return setup_cache.setup(request, deploy)


@pytest.fixture
def feed_with_a_round(
    request: pytest.FixtureRequest, setup_cache: SetupCache, chain: Chain, roles: Roles, feed: Contract
) -> Contract:
    """The feed with round 1 at 42: a second setup on top of the first."""

    def push() -> None:
        SEEN["rounds"] += 1
        chain.transact(feed.functions.pushRound(42, 1), roles.admin)

    setup_cache.setup(request, push)
    return feed


def _after(test: str) -> None:
    if test not in SEEN:
        pytest.skip(f"checks what {test} left: run the whole module")


def test_a_setup_runs_for_the_first_test_that_needs_it(chain: Chain, roles: Roles, feed: Contract) -> None:
    assert SEEN["deploys"] == 1
    assert feed.functions.latestRound().call() == 0
    chain.transact(feed.functions.pushRound(7, 1), roles.admin)
    assert feed.functions.latestRound().call() == 1
    SEEN["first"] = feed.address


def test_the_next_test_gets_the_setup_back_without_what_the_last_test_did(feed: Contract) -> None:
    _after("first")
    assert SEEN["deploys"] == 1, "the setup ran again"
    assert feed.address == SEEN["first"]
    assert feed.functions.latestRound().call() == 0
    SEEN["second"] = True


def test_a_second_setup_builds_on_the_first(chain: Chain, roles: Roles, feed_with_a_round: Contract) -> None:
    _after("second")
    assert (SEEN["deploys"], SEEN["rounds"]) == (1, 1)
    assert feed_with_a_round.functions.latestRound().call() == 1
    chain.transact(feed_with_a_round.functions.pushRound(8, 2), roles.admin)
    SEEN["third"] = True


def test_both_setups_come_back_together(feed_with_a_round: Contract) -> None:
    _after("third")
    assert (SEEN["deploys"], SEEN["rounds"]) == (1, 1)
    assert feed_with_a_round.functions.latestRound().call() == 1
    SEEN["fourth"] = True


def test_a_setup_the_test_does_not_ask_for_is_reverted_first(feed: Contract) -> None:
    _after("fourth")
    assert (SEEN["deploys"], SEEN["rounds"]) == (1, 1)
    assert feed.functions.latestRound().call() == 0
    SEEN["fifth"] = True


def test_a_test_without_the_setups_starts_from_the_base_scenario(chain: Chain) -> None:
    _after("fifth")
    assert chain.w3.eth.get_code(SEEN["first"]) == b""
    SEEN["sixth"] = True


def test_a_setup_reverted_runs_again_when_a_test_needs_it(feed: Contract) -> None:
    _after("sixth")
    assert SEEN["deploys"] == 2
    assert feed.functions.latestRound().call() == 0
