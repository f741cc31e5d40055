"""Each view on a scenario whose figures are computed by hand.

Prices: XAU has 8 decimals (2,000.00000000 to start), EURUSD 8 (1.10), IDX50 2 (5,000.00); cash 6.
A position's value is ``quantity * price / 10**(18 + price decimals - 6)`` cash units. Every member
holds 10,000 in the default fund; the fund's requirement is at least 1,000.
"""

from __future__ import annotations

import pandas as pd
import pytest

from dfmi_py.books.replay import replay
from dfmi_py.errors import InputError
from dfmi_py.identity.disclosure import Disclosure, Identity
from tests.books.checks import assert_same_views
from tests.books.scenario import KEEPER, PARTIES, USD, BooksWorld

pytestmark = pytest.mark.xdist_group("books")

A, B, C, D, E = PARTIES
XAU, EUR, IDX = 10**8, 10**8, 10**2


def _row(frame: pd.DataFrame, **where: object) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column] == value
    (index,) = frame.index[mask]
    return frame.loc[index]


def test_positions_and_exposure_mark_to_market_by_hand(bw: BooksWorld) -> None:
    # A buys 2 oz of gold from B at 2,000; settled at 2,010 (B pays A 20); the price is now 2,025
    trade = bw.trade("XAU", A, B, quantity=2 * 10**18)
    bw.post("XAU", 2_010 * XAU)
    bw.settle_all("XAU")
    bw.post("XAU", 2_025 * XAU)
    books = bw.books()

    position = _row(books.positions(), market="XAU", trade_id=trade)
    assert (position.state, position.buyer, position.seller) == ("LIVE", A.address, B.address)
    assert (position.last_price, position.latest_price) == (2_010 * XAU, 2_025 * XAU)
    assert position.mtm_to_buyer == 30 * USD  # 2 oz x 15
    assert (position.buyer_im, position.seller_im, position.debt) == (100 * USD, 100 * USD, 0)

    (flow,) = books.margin_flows().itertuples()
    assert (flow.kind, flow.payer, flow.receiver, flow.paid, flow.owed) == (
        "variation_margin",
        B.address,
        A.address,
        20 * USD,
        0,
    )
    assert (flow.price, flow.vm_to_buyer) == (2_010 * XAU, 20 * USD)

    exposure = books.exposure().set_index("member")
    a, b = exposure.loc[A.address], exposure.loc[B.address]
    assert (a.mtm, a.exposure, a.vm_received, a.margin_account, a.im_held) == (
        30 * USD,
        30 * USD,
        20 * USD,
        20 * USD,
        100 * USD,
    )
    assert (b.mtm, b.exposure, b.vm_paid, b.margin_account, b.im_held) == (-30 * USD, -30 * USD, 20 * USD, 0, 100 * USD)
    assert (a.fund_balance, a.fund_requirement) == (10_000 * USD, 1_000 * USD)
    # the exposure of one market only: nothing of gold's in EURUSD
    assert books.exposure(market="EURUSD").empty


def test_a_margin_call_and_its_cure(bw: BooksWorld) -> None:
    # D sells C 1 oz at 2,000 and stops paying; gold rises to 2,100: D owes 100 and is called
    trade = bw.trade("XAU", C, D)
    bw.stop_paying(D, "XAU")
    bw.post("XAU", 2_100 * XAU)
    bw.settle_all("XAU")
    books = bw.books()
    (call,) = books.margin_calls().itertuples()
    cure_period = bw.market.markets["XAU"].derivatives.cure_period()
    assert (call.debtor, call.creditor, call.first_amount, call.amount, call.outcome) == (
        D.address,
        C.address,
        100 * USD,
        100 * USD,
        "open",
    )
    assert call.cure_deadline - call.called_at == pd.Timedelta(seconds=cure_period)
    assert _row(books.positions(), market="XAU", trade_id=trade).state == "MARGIN_CALL"
    assert _row(books.exposure(), member=D.address).vm_owed == 100 * USD

    bw.cure("XAU", trade)
    (call,) = books.margin_calls().itertuples()  # the same reader, refreshed
    assert (call.outcome, call.paid) == ("cured", 100 * USD)
    flows = books.margin_flows()
    assert [(f.kind, f.payer, f.paid, f.owed) for f in flows.itertuples()] == [
        ("variation_margin", D.address, 0, 100 * USD),
        ("cure", D.address, 100 * USD, 0),
    ]
    assert _row(books.positions(), market="XAU", trade_id=trade).state == "LIVE"


def test_a_default_reaching_the_survivors_tranche(bw: BooksWorld) -> None:
    # E sells C 30 index units at 5,000 (IM 100) and stops paying; +9% makes E owe 13,500:
    # E's IM pays 100, E's fund balance 10,000, the four others 850 each (pro rata)
    trade = bw.trade("IDX50", C, E, quantity=30 * 10**18)
    bw.stop_paying(E, "IDX50")
    bw.post("IDX50", 5_450 * IDX)
    bw.settle_all("IDX50")
    assert bw.default("IDX50", trade)
    books = bw.books()

    (default,) = books.defaults().itertuples()
    assert (default.kind, default.defaulter, default.survivor) == ("close-out", E.address, C.address)
    assert (default.loss, default.from_im, default.from_margin) == (13_500 * USD, 100 * USD, 0)
    assert (default.from_defaulter_contribution, default.from_survivors, default.unpaid) == (
        10_000 * USD,
        3_400 * USD,
        0,
    )
    assert default.fund_claim == "paid"
    losses = {row.member: (row.role, row.loss) for row in books.default_losses().itertuples()}
    assert losses == {
        E.address: ("defaulter", 10_000 * USD),
        **{p.address: ("survivor", 850 * USD) for p in (A, B, C, D)},
    }
    fund = books.fund().set_index("member")
    assert (fund.loc[E.address].balance, fund.loc[E.address].status) == (0, "BELOW_REQUIREMENT")
    assert (fund.loc[E.address].lost, fund.loc[E.address].shortfall) == (10_000 * USD, 1_000 * USD)
    assert all(fund.loc[p.address].balance == 9_150 * USD for p in (A, B, C, D))
    (call,) = books.margin_calls().itertuples()
    assert (call.outcome, call.amount) == ("defaulted", 13_500 * USD)
    # C got its 13,500 and its own IM back in its margin account
    assert _row(books.exposure(), member=C.address).margin_account == 13_600 * USD


def test_maturity_paid_and_maturity_paid_from_collateral(bw: BooksWorld) -> None:
    # two one-day EURUSD forwards of 1,000 at 1.10; at maturity EURUSD is 1.122: each seller owes 22.
    # B pays A from its wallet; C, who stopped paying, pays D from its IM: a default at maturity
    engine = bw.market.markets["EURUSD"].derivatives
    paid = bw.trade("EURUSD", A, B, quantity=1_000 * 10**18, maturity_in=86_400)
    unpaid = bw.trade("EURUSD", D, C, quantity=1_000 * 10**18, maturity_in=86_400)
    bw.stop_paying(C, "EURUSD")
    bw.w.advance(86_401)
    final_round = bw.post("EURUSD", 1_122 * EUR // 1_000)
    for trade in (paid, unpaid):
        engine.mature(KEEPER, trade, final_round)
    books = bw.books()

    finals = books.margin_flows()
    assert [(f.trade_id, f.kind, f.payer, f.receiver, f.paid, f.owed) for f in finals.itertuples()] == [
        (paid, "final", B.address, A.address, 22 * USD, 0),
        (unpaid, "final", C.address, D.address, 22 * USD, 0),
    ]
    (default,) = books.defaults().itertuples()
    assert (default.trade_id, default.kind, default.defaulter, default.survivor) == (
        unpaid,
        "maturity",
        C.address,
        D.address,
    )
    assert (default.loss, default.from_im, default.from_margin, default.fund_claim) == (22 * USD, 22 * USD, 0, "none")
    positions = books.positions(market="EURUSD").set_index("trade_id")
    assert list(positions.state) == ["MATURED", "MATURED"]
    assert list(positions.buyer_im) == [0, 0]
    assert list(positions.seller_im) == [0, 0]
    # C's IM less the 22 it paid went back to its margin account
    assert _row(books.exposure(), member=C.address).margin_account == 78 * USD


def test_amendment_and_termination_payments_and_margin_accounts(bw: BooksWorld) -> None:
    # A buys 1 oz from B, IM 100 each; A deposits 25 into its margin account
    engine = bw.market.markets["XAU"].derivatives
    trade = bw.trade("XAU", A, B)
    engine.deposit_margin(A, 25 * USD)
    # amended: B pays A 10, A's IM rises to 300, B's falls to 50. The engine takes the payment
    # first (B's 10 from its wallet: its margin account is empty), then resizes the IMs: A's 200
    # more from its margin account (25 + 10) and wallet, B's 50 back to its margin account
    amendment = engine.amendment(trade, buyer_im=300 * USD, seller_im=50 * USD, payment=-10 * USD)
    signatures = (engine.sign_amendment(A, amendment), engine.sign_amendment(B, amendment))
    engine.amend(KEEPER, amendment, *signatures)
    books = bw.books()

    def margins() -> tuple[int, int]:
        exposure = books.exposure(market="XAU").set_index("member")
        return exposure.margin_account[A.address], exposure.margin_account[B.address]

    assert margins() == (0, 50 * USD) == (engine.margin_of(A.address), engine.margin_of(B.address))
    position = _row(books.positions(), market="XAU", trade_id=trade)
    assert (position.buyer_im, position.seller_im, position.nonce) == (300 * USD, 50 * USD, 1)
    # terminated: A pays B 30 (from its wallet); both IMs go back to the margin accounts:
    # A 0 + 300, B 50 + 30 + 50
    termination = engine.termination(trade, payment=30 * USD)
    signatures = (engine.sign_termination(A, termination), engine.sign_termination(B, termination))
    engine.terminate(KEEPER, termination, *signatures)
    assert margins() == (300 * USD, 130 * USD) == (engine.margin_of(A.address), engine.margin_of(B.address))
    flows = [(f.kind, f.payer, f.receiver, f.paid) for f in books.margin_flows().itertuples()]
    assert flows == [("amendment", B.address, A.address, 10 * USD), ("termination", A.address, B.address, 30 * USD)]
    position = _row(books.positions(), market="XAU", trade_id=trade)
    assert (position.state, position.buyer_im, position.seller_im, position.nonce) == ("TERMINATED", 0, 0, 2)


def test_netting_round_compression_of_the_papers_example(bw: BooksWorld) -> None:
    # P1 owes 40 to P2 and 50 to P3, P3 owes 60 to P2: gross 150, net 100 (P1 pays 90, P3 10)
    round_id = bw.netting_round([(A, B, 40 * USD), (A, C, 50 * USD), (C, B, 60 * USD)])
    (row,) = bw.books().netting_rounds().itertuples()
    assert (row.round_id, row.state, row.members, row.obligations) == (round_id, "SETTLED", 3, 3)
    assert (row.gross_value, row.net_value, row.saved) == (150 * USD, 100 * USD, 50 * USD)
    assert row.compression_pct == pytest.approx(100 / 3)
    assert (row.excluded, row.instructions, row.escrowed) == (0, 0, 0)


def test_instructions_settled_failed_void_proposed_cancelled_and_expired(bw: BooksWorld) -> None:
    settlement, d = bw.market.settlement, bw.market.deployment
    sold = bw.dvp(A, B, 10, 1_000 * USD)  # settles
    failed = bw.dvp(C, D, 5, 10**7 * USD)  # D holds a million: fails, stays pending
    bw.dvp(C, D, 5, 500 * USD)  # same parties, same (lowest unspent) nonce: settles, voiding the failed one
    proposed = settlement.dvp(
        E.address, d.security.address, 1, A.address, d.cash.address, USD, deadline=bw.w.chain.now() + 600
    )
    settlement.propose(E, proposed)
    cancelled = settlement.dvp(B.address, d.security.address, 1, E.address, d.cash.address, USD, nonce=7)
    settlement.propose(B, cancelled)
    settlement.cancel(E, cancelled)
    books = bw.books()
    rows = books.instructions().set_index("id")

    def row(instruction: object) -> pd.Series:
        return rows.loc[settlement.instruction_id(instruction)]  # type: ignore[arg-type]

    assert (row(sold).kind, row(sold).state, row(sold).outcome) == ("DvP", "SETTLED", "settled")
    assert (row(sold).token_a, row(sold).amount_a, row(sold).token_b, row(sold).amount_b) == (
        "ACME30",
        10,
        "DSD",
        1_000 * USD,
    )
    assert (row(failed).state, row(failed).outcome, row(failed).failures) == ("SETTLED", "void", 1)
    assert row(failed).failure_reason.startswith("ERC20InsufficientBalance(sender=" + D.address)
    assert (row(proposed).state, row(proposed).outcome) == ("PROPOSED", "pending")
    assert (row(cancelled).state, row(cancelled).outcome) == ("CANCELLED", "cancelled")
    bw.w.advance(601)
    assert (row_ := books.instructions().set_index("id").loc[settlement.instruction_id(proposed)]).state == "EXPIRED"
    assert row_.outcome == "expired"


def test_settled_legs_come_from_the_transfers_when_nothing_else_tells_them(bw: BooksWorld) -> None:
    sold = bw.dvp(A, B, 10, 1_000 * USD)
    books = bw.books()
    books.refresh()
    # replayed without the transactions' inputs: the settlement's two token transfers give the legs
    state = replay(books.ledger.events(), books.markets)
    record = state.instructions[bw.market.settlement.instruction_id(sold)]
    assert record.instruction is None
    d = bw.market.deployment
    assert record.legs == ((d.security.address, 10), (d.cash.address, 1_000 * USD))
    assert (record.party_a, record.party_b, record.spent) == (A.address, B.address, "settled")


def test_oracle_rounds_with_their_reports(bw: BooksWorld) -> None:
    bw.post("XAU", 2_010 * XAU)
    rounds = bw.books().oracle_rounds(market="xau")  # a market's name in any case
    assert list(rounds.market) == ["XAU", "XAU"]
    assert list(rounds.answer) == [2_000 * XAU, 2_010 * XAU]
    assert list(rounds.submissions) == [3, 3]
    reporters = bw.market.markets["XAU"].oracle.reporters()
    assert rounds.reporters.iloc[-1] == ";".join(reporters[:3])
    assert rounds.started_by.iloc[-1] == reporters[0]


def test_party_columns_carry_the_disclosed_identities(bw: BooksWorld) -> None:
    bw.trade("XAU", A, B)
    alpha = Identity("Alpha Bank AG", "529900T8BM49AURSDO55", "DE")
    disclosure = Disclosure({A.address: alpha}, "identities shown: 1 of 5 accounts")
    shown = bw.books(disclosure=disclosure).positions()
    assert shown.attrs["disclosure"] == disclosure.note
    assert (shown.buyer_lei.iloc[0], shown.buyer_name.iloc[0]) == (alpha.lei, alpha.legal_name)
    assert shown.seller_lei.isna().all()
    assert shown.seller_name.isna().all()
    hidden = bw.books()  # no key: addresses only, and every view says so
    assert all(frame.attrs["disclosure"] == Disclosure().note for frame in hidden.all().values())
    positions = hidden.positions()
    assert positions[["buyer_lei", "buyer_name", "seller_lei", "seller_name", "debtor_lei"]].isna().all().all()


def test_small_log_chunks_give_the_same_views(bw: BooksWorld) -> None:
    trade = bw.trade("IDX50", C, E, quantity=30 * 10**18)
    bw.trade("XAU", A, B)
    bw.stop_paying(E, "IDX50")
    bw.post("IDX50", 5_450 * IDX)
    bw.settle_all("IDX50")
    bw.default("IDX50", trade)
    bw.dvp(A, B, 10, 1_000 * USD)
    bw.netting_round([(A, B, 40 * USD), (C, B, 60 * USD)])
    reference = bw.books()
    expected = reference.all()
    for chunk in (1, 3):
        books = bw.books(chunk_blocks=chunk)
        assert_same_views(books.all(), expected)
        blocks = books.ledger.head - books.ledger.start_block + 1  # type: ignore[operator]
        assert books.ledger.stats.log_requests == -(-blocks // chunk)
    assert reference.ledger.stats.log_requests == 1


def test_connect_opens_a_manifest_file_or_a_folder(bw: BooksWorld) -> None:
    import dfmi_py

    bw.trade("XAU", A, B)
    folder = bw.w.manifest_dir
    (manifest,) = folder.glob("*.json")
    for where in (folder, manifest, str(manifest)):
        books = dfmi_py.connect(bw.w.node.rpc_url, where)
        assert list(books.positions().trade_id) == [1]
        assert books.markets == ["XAU", "EURUSD", "IDX50"]


def test_unknown_market_and_views_that_are_not_per_market(bw: BooksWorld) -> None:
    books = bw.books()
    with pytest.raises(InputError, match="no market 'GOLD': this deployment has XAU, EURUSD, IDX50"):
        books.positions(market="GOLD")
    with pytest.raises(InputError, match="the fund view is not per market"):
        books.view("fund", market="XAU")
    with pytest.raises(InputError, match="unknown view 'trades'"):
        books.view("trades")
