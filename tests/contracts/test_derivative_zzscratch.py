from tests.contracts.conftest import *  # noqa
from tests.helpers import events

def test_scratch(market, roles, chain):
    m = market
    b, s = roles.members[0], roles.members[1]
    terms = m.terms(b, s)
    tid, rc = m.propose(terms, b)
    ev = events(m.engine, "TradeProposed", rc)
    print(ev, type(ev[0]["terms"]))
    print(terms.hash().hex(), m.engine.functions.proposalOf(tid).call())
