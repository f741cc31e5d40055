"""Gas report of multilateral netting: deploys its own registry, cash, security, settlement and
netting contracts on a fresh Anvil, runs rounds of 10, 50 and 200 members with 10x as many random
obligations and a round of 10 DvP instructions (then the same with one delivery token that
refuses, or burns all its gas), and writes bench/results/netting_gas.md.

    .venv/bin/python bench/netting_gas.py

Every figure is the ``gasUsed`` of a real transaction's receipt (21,000 intrinsic gas included).
Each round: obligations registered in signed batches of 100, closed, nets computed off-chain by
dfmi_py.netting and verified on-chain, every debtor approves its net debit, one settlement.
Then the block-limit analysis: how many members one settlement (or one verification) and how
many obligations one registration batch fit in a 30M-gas block.
"""

from __future__ import annotations

import random
import sys
from typing import Any

from eth_account.signers.local import LocalAccount
from report import CashBench, Row, fresh_accounts, run_report
from web3.contract.contract import ContractFunction
from web3.types import Nonce
from web3.utils.address import get_create_address

from dfmi_py.api.netting import Netting, RoundState
from dfmi_py.api.settlement import Settlement
from dfmi_py.chain import Chain
from dfmi_py.netting import compression, net_positions

USD = 10**6
BLOCK_GAS = 30_000_000
#: The 10-DvP settlement in the report before failed deliveries were proven by a self-call.
DVP_SETTLE_BEFORE_FAILURES = 902_164
SIZES = (10, 50, 200)
OBLIGATIONS_PER_MEMBER = 10
BATCH = 100
SEED = 6


class Bench(CashBench):
    """A registry, a cash token, a netting contract, and the accounts the measurements need."""

    def __init__(self, chain: Chain) -> None:
        super().__init__(chain)
        self.security, _ = chain.deploy(
            "SecurityToken", ["Bench Bond 2030", "BB30", 0, self.registry.address, self.admin.address], self.admin
        )
        self._send(self.security.functions.grantRole(self.security.functions.ISSUER_ROLE().call(), self.admin.address))
        self._send(self.registry.functions.addSubscriber(self.security.address))
        self._send(self.security.functions.syncCompliance(self.admin.address))  # onboarded before it subscribed
        # The settlement contract trusts the netting contract deployed right after it.
        nonce = chain.w3.eth.get_transaction_count(self.admin.address, "pending")
        predicted = get_create_address(self.admin.address, Nonce(nonce + 1))
        settlement, _ = chain.deploy("AtomicSettlement", [predicted], self.admin)
        contract, _ = chain.deploy(
            "NettingEngine", [self.registry.address, self.cash.address, settlement.address], self.admin
        )
        assert contract.address == predicted
        self._send(self.registry.functions.onboardBatch([contract.address, settlement.address]))
        self.netting = Netting(chain, contract)
        self.settlement = Settlement(chain, settlement)

    def _fast(self, calls: list[tuple[ContractFunction, LocalAccount]]) -> None:
        """Send setup transactions back to back with fixed gas and wait for them all."""
        w3 = self.chain.w3
        nonces: dict[str, int] = {}
        hashes = []
        for call, sender in calls:
            nonce = nonces.setdefault(sender.address, w3.eth.get_transaction_count(sender.address, "pending"))
            tx = call.build_transaction(
                {
                    "from": sender.address,
                    "nonce": nonce,
                    "gas": 300_000,
                    "chainId": self.chain.chain_id,
                    "maxFeePerGas": 10**10,
                    "maxPriorityFeePerGas": 0,
                }
            )
            nonces[sender.address] += 1
            hashes.append(w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction))
        for h in hashes:
            assert w3.eth.wait_for_transaction_receipt(h, poll_latency=0.002)["status"] == 1

    def new_accounts(self, count: int) -> list[LocalAccount]:
        """``count`` fresh accounts with gas money, onboarded, holding cash."""
        accounts = fresh_accounts(self.chain, self.admin, count)
        for start in range(0, count, 50):
            self._send(self.registry.functions.onboardBatch([a.address for a in accounts[start : start + 50]]))
        self._fast([(self.cash.functions.mint(a.address, 10**6 * USD), self.admin) for a in accounts])
        return accounts

    def advance(self, seconds: int) -> None:
        self.chain.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
        self.chain.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def now(self) -> int:
        return int(self.chain.w3.eth.get_block("latest")["timestamp"])


def random_graph(
    rng: random.Random, members: list[LocalAccount], count: int
) -> list[tuple[LocalAccount, LocalAccount, int]]:
    """``count`` obligations between random distinct members, 1 to 1,000 USD each."""
    edges = []
    for _ in range(count):
        payer, payee = rng.sample(members, 2)
        edges.append((payer, payee, rng.randint(1, 1_000) * USD))
    return edges


def run_round(
    bench: Bench, members: list[LocalAccount], edges: list[Any], *, short: LocalAccount | None = None
) -> dict[str, Any]:
    """One round: register, close, verify, approve, (exclude ``short``), settle; the gas of each step."""
    n = bench.netting
    opener = members[0]
    cutoff = bench.now() + 3_600
    round_id = n.open_round(opener, cutoff, cutoff + 3_600)
    obligations = [n.obligation(round_id, p.address, q.address, a, i) for i, (p, q, a) in enumerate(edges)]
    by_address = {m.address: m for m in members}
    signed = [n.signed_by_both(o, by_address[o.payer], by_address[o.payee]) for o in obligations]
    register_gas = []
    for start in range(0, len(signed), BATCH):
        (receipt,) = n.register_batch(bench.admin, signed[start : start + BATCH])
        register_gas.append(int(receipt["gasUsed"]))
    close = int(n.close(opener, round_id)["gasUsed"])
    nets = net_positions(obligations)
    approvals = [(bench.cash.functions.approve(n.address, -net), by_address[m]) for m, net in nets.items() if net < 0]
    bench._fast([(call, who) for call, who in approvals if who is not short])
    submit = int(n.submit_nets(bench.admin, round_id)["gasUsed"])
    result: dict[str, Any] = {"round_id": round_id, "register": register_gas, "close": close, "submit": submit}
    if short is not None:
        bench.advance(7_300)
        receipt = n.exclude(bench.admin, round_id, short.address)
        result["exclude"] = int(receipt["gasUsed"])
        result["removed"] = sum(1 for o in obligations if o.involves(short.address))
        result["resubmit"] = int(n.submit_nets(bench.admin, round_id)["gasUsed"])
        # Members whose debit grew when the short member's payments dropped out approve the rest.
        extra = [
            (bench.cash.functions.approve(n.address, -net), by_address[m])
            for m, net in zip(n.members(round_id), n.nets(round_id), strict=True)
            if net < 0
        ]
        bench._fast(extra)
    result["settle"] = int(n.settle(bench.admin, round_id)["gasUsed"])
    result["compression"] = compression(obligations)
    result["onchain"] = n.compression(round_id)
    return result


def dvp_round(bench: Bench, sellers: list[LocalAccount], buyers: list[LocalAccount], *, as_dvp: bool) -> dict[str, int]:
    """A round where seller i sells 10 shares to buyer i for 1,000 + i USD: entered as DvP
    instructions (cash legs netted, security legs delivered at settlement), or, for comparison,
    the same cash legs registered as plain obligations (no security moves)."""
    n, s = bench.netting, bench.settlement
    cutoff = bench.now() + 3_600
    round_id = n.open_round(bench.admin, cutoff, cutoff + 3_600)
    enter = []
    if as_dvp:
        for seller, buyer in zip(sellers, buyers, strict=True):
            price = (1_000 + sellers.index(seller)) * USD
            instruction = s.dvp(
                seller.address, bench.security.address, 10, buyer.address, bench.cash.address, price,
                deadline=cutoff + 7 * 24 * 3_600,
            )  # fmt: skip
            n.enter_instruction(bench.admin, round_id, s.signed(instruction, seller, buyer))
            enter.append(int(bench.chain.last_receipt["gasUsed"]))  # type: ignore[index]
    else:
        obligations = [
            n.obligation(round_id, buyer.address, seller.address, (1_000 + i) * USD, i)
            for i, (seller, buyer) in enumerate(zip(sellers, buyers, strict=True))
        ]
        by_address = {m.address: m for m in (*sellers, *buyers)}
        n.register_batch(
            bench.admin, [n.signed_by_both(o, by_address[o.payer], by_address[o.payee]) for o in obligations]
        )
    n.close(bench.admin, round_id)
    n.submit_nets(bench.admin, round_id)
    before = [int(bench.security.functions.balanceOf(b.address).call()) for b in buyers]
    settle = int(n.settle(bench.admin, round_id)["gasUsed"])
    after = [int(bench.security.functions.balanceOf(b.address).call()) for b in buyers]
    assert [a - b for a, b in zip(after, before, strict=True)] == [10 if as_dvp else 0] * len(buyers)
    return {"settle": settle, "enter_first": enter[0] if enter else 0, "enter_avg": sum(enter) // max(len(enter), 1)}


#: ``HostileSecurity.Mode`` values (contracts/test/HostileSecurity.sol).
REFUSE, BURN_GAS = 1, 2


def failing_round(bench: Bench, sellers: list[LocalAccount], buyers: list[LocalAccount], mode: int) -> dict[str, int]:
    """The DvP round again, but seller 0 delivers a token of its own that, at settlement, behaves
    as ``mode`` says: after the deadline the settlement records the failure (nothing moves), the
    instruction is removed, the nets are submitted again and the round settles without it."""
    n, s = bench.netting, bench.settlement
    host, _ = bench.chain.deploy("HostileSecurity", [], bench.admin)
    bench._fast(
        [
            (host.functions.mint(sellers[0].address, 1_000), bench.admin),
            (host.functions.approve(s.address, 2**256 - 1), sellers[0]),
        ]
    )
    cutoff = bench.now() + 3_600
    round_id = n.open_round(bench.admin, cutoff, cutoff + 3_600)
    for i, (seller, buyer) in enumerate(zip(sellers, buyers, strict=True)):
        token = host.address if i == 0 else bench.security.address
        instruction = s.dvp(
            seller.address, token, 10, buyer.address, bench.cash.address, (1_000 + i) * USD,
            deadline=cutoff + 7 * 24 * 3_600,
        )  # fmt: skip
        n.enter_instruction(bench.admin, round_id, s.signed(instruction, seller, buyer))
    n.close(bench.admin, round_id)
    n.submit_nets(bench.admin, round_id)
    bench._send(host.functions.setMode(mode, 0))
    bench.advance(7_300)
    receipt = n.settle(bench.admin, round_id)
    (failure,) = n.failures_in(receipt)
    assert n.state(round_id) == RoundState.VERIFIED
    assert failure.seller == sellers[0].address
    remove = int(n.remove_failed(bench.admin, round_id)["gasUsed"])
    n.submit_nets(bench.admin, round_id)
    settle = int(n.settle(bench.admin, round_id)["gasUsed"])
    assert n.state(round_id) == RoundState.SETTLED
    return {"record": int(receipt["gasUsed"]), "remove": remove, "settle": settle}


def measure(bench: Bench) -> tuple[list[Row], str]:
    rng = random.Random(SEED)
    accounts = bench.new_accounts(max(SIZES))
    rows: list[Row] = []
    results: dict[int, dict[str, Any]] = {}

    # One obligation alone, payer-sent with the payee's signature, between members already in a round.
    n = bench.netting
    a, b = accounts[0], accounts[1]
    cutoff = bench.now() + 3_600
    rid = n.open_round(a, cutoff, cutoff + 3_600)
    rows.append(Row("openRound", int(bench.chain.last_receipt["gasUsed"])))  # type: ignore[index]
    first = n.obligation(rid, a.address, b.address, USD, 1)
    rows.append(
        Row(
            "register: first obligation of a round (2 new members)",
            int(n.register(a, first, payee_signature=n.sign(b, first))["gasUsed"]),
        )
    )
    again = n.obligation(rid, b.address, a.address, 2 * USD, 2)
    rows.append(
        Row(
            "register: one more obligation between listed members",
            int(n.register(a, again, n.sign(b, again))["gasUsed"]),
            note="payer's signature checked; the payee sends",
        )
    )

    for size in SIZES:
        members = accounts[:size]
        edges = random_graph(rng, members, OBLIGATIONS_PER_MEMBER * size)
        results[size] = r = run_round(bench, members, edges)
        assert r["onchain"] == r["compression"], (r["onchain"], r["compression"])
        per_obligation = sum(r["register"]) // len(edges)
        rows.append(
            Row(
                f"{size} members: registerBatch of {BATCH} signed obligations (first batch)",
                r["register"][0],
                note=f"{len(r['register'])} batches; {per_obligation:,} per obligation on average",
            )
        )
        rows.append(Row(f"{size} members: close", r["close"]))
        rows.append(
            Row(
                f"{size} members: submitNets (verify {size} nets)",
                r["submit"],
                note=f"{r['submit'] // size:,} per member",
            )
        )
        target = None
        if size == max(SIZES):
            # Linear in members: the per-member cost at 200 within 10% of that at 50.
            target = results[50]["settle"] * size * 110 // (50 * 100)
        rows.append(
            Row(
                f"{size} members: settle ({len(edges):,} obligations)",
                r["settle"],
                target=target,
                note=f"{r['settle'] // size:,} per member, {r['settle'] // len(edges):,} per obligation",
            )
        )

    # An exclusion: 50 members, one of them approves nothing.
    members = accounts[:50]
    edges = random_graph(rng, members, OBLIGATIONS_PER_MEMBER * 50)
    nets = net_positions([n.obligation(1, p.address, q.address, amt) for p, q, amt in edges])
    short = next(m for m in members if nets[m.address] < 0)
    ex = run_round(bench, members, edges, short=short)
    rows.append(
        Row(
            f"50 members: exclude a member with {ex['removed']} obligations",
            ex["exclude"],
            note=f"{ex['exclude'] // ex['removed']:,} per removed obligation",
        )
    )
    rows.append(Row("50 members: submitNets again after the exclusion", ex["resubmit"]))
    rows.append(Row("50 members: settle after the exclusion", ex["settle"]))

    # DvP cash legs: 10 sellers (settlement contract approved on the security) and 10 buyers
    # (netting contract approved on cash); all hold shares and cash already, as in the DvP report,
    # and are new to the settlement contract.
    dvp_count = 10
    traders = bench.new_accounts(2 * dvp_count)
    sellers, buyers = traders[:dvp_count], traders[dvp_count:]
    calls = [(bench.security.functions.issue(m.address, 1_000), bench.admin) for m in traders]
    calls += [(bench.security.functions.approve(bench.settlement.address, 2**256 - 1), m) for m in sellers]
    calls += [(bench.cash.functions.approve(n.address, 2**256 - 1), m) for m in buyers]
    bench._fast(calls)
    plain = dvp_round(bench, sellers, buyers, as_dvp=False)
    dvp = dvp_round(bench, sellers, buyers, as_dvp=True)
    rows.append(
        Row(
            "enterInstruction: a signed DvP (lock + cash leg booked), first of a round",
            dvp["enter_first"],
            note=f"{dvp['enter_avg']:,} on average over {dvp_count}; each pair's first instruction (new nonce word)",
        )
    )
    rows.append(
        Row(
            f"{2 * dvp_count} members: settle with the cash legs of {dvp_count} trades as plain obligations",
            plain["settle"],
            note="no security moves: the baseline",
        )
    )
    per_instruction = (dvp["settle"] - plain["settle"]) // dvp_count
    rows.append(
        Row(
            f"{2 * dvp_count} members: settle with {dvp_count} DvPs (net cash, then each security leg)",
            dvp["settle"],
            note=f"{per_instruction:,} per instruction above the baseline (its check and its delivery)",
        )
    )
    refused = failing_round(bench, sellers, buyers, REFUSE)
    burnt = failing_round(bench, sellers, buyers, BURN_GAS)
    rows.append(
        Row(
            f"{2 * dvp_count} members, {dvp_count} DvPs, one token refusing: settle records the failure",
            refused["record"],
            note="after the deadline; nothing moves, the round stays Verified",
        )
    )
    rows.append(
        Row(
            f"{2 * dvp_count} members, {dvp_count} DvPs, one token burning all gas: settle records the failure",
            burnt["record"],
            note=f"{burnt['record'] - refused['record']:,} more than the refusal: the token's capped attempt",
        )
    )
    rows.append(Row("removeFailed: one failed DvP", refused["remove"], note="cash leg unbooked, instruction released"))
    rows.append(
        Row(
            f"{2 * dvp_count} members: settle with the {dvp_count - 1} other DvPs after the removal",
            refused["settle"],
        )
    )

    # Block-limit analysis from the marginal costs between the smallest and the largest round.
    lo, hi = results[min(SIZES)], results[max(SIZES)]
    span = max(SIZES) - min(SIZES)
    settle_marginal = (hi["settle"] - lo["settle"]) / span
    settle_fixed = lo["settle"] - settle_marginal * min(SIZES)
    submit_marginal = (hi["submit"] - lo["submit"]) / span
    submit_fixed = lo["submit"] - submit_marginal * min(SIZES)
    # Registration: the average over the largest round's batches, and the worst batch (its first,
    # where most members are listed for the first time).
    biggest = results[max(SIZES)]["register"]
    per_obligation = sum(biggest) / (OBLIGATIONS_PER_MEMBER * max(SIZES))
    worst_per_obligation = max(biggest) / BATCH
    max_settle = int((BLOCK_GAS - settle_fixed) / settle_marginal)
    max_submit = int((BLOCK_GAS - submit_fixed) / submit_marginal)
    outro = [
        "## Compression on random graphs",
        "",
        f"Obligations between uniformly random distinct members, 1 to 1,000 USD each (seed {SEED}).",
        "",
        "| members | obligations | gross value (USD) | net value moved (USD) | compression |",
        "|---:|---:|---:|---:|---:|",
    ]
    for size, r in results.items():
        c = r["compression"]
        outro.append(
            f"| {size} | {OBLIGATIONS_PER_MEMBER * size:,} | {c.gross // USD:,} | {c.net // USD:,} | "
            f"{float(c.ratio):.1%} |"
        )
    outro += [
        "",
        "## Where the limit of one block lies",
        "",
        f"Marginal costs (from the {min(SIZES)}- and {max(SIZES)}-member rounds): settle "
        f"{settle_marginal:,.0f} gas per member over a fixed {settle_fixed:,.0f}; submitNets "
        f"{submit_marginal:,.0f} per member over {submit_fixed:,.0f}; registration "
        f"{per_obligation:,.0f} per obligation on average in batches of {BATCH} (two signatures, the "
        f"id's fate, two running nets), up to {worst_per_obligation:,.0f} in a round's first batch, "
        "where most members get their first obligation (listing a member and its first net cost "
        "two new storage slots).",
        "",
        f"In a {BLOCK_GAS:,}-gas block:",
        f"- one settlement moves the nets of at most about **{max_settle:,} members**;",
        f"- one verification checks at most about **{max_submit:,} members**;",
        f"- one block registers about **{int(BLOCK_GAS / per_obligation):,} obligations** "
        f"({int(BLOCK_GAS / worst_per_obligation):,} when all are members' first ones; the API sends "
        "batches of 150).",
        "",
        "Settlement and verification read each member's running net once, so their cost grows with "
        "the number of members only: the number of obligations behind the nets does not enter. A "
        "round of more members than one block takes would need its settlement split (not built: "
        "all-or-nothing across blocks needs an escrow of every debit first, which `fund` already "
        "allows). Registration is spread over as many blocks as needed; exclusion costs "
        "O(the excluded member's obligations).",
        "",
        "## DvP cash legs",
        "",
        "An instruction that enters a round is locked in the settlement contract (its nonce word: "
        "a new word when the pair has none yet) and its cash leg booked like any obligation. At "
        "settlement the cash legs cost nothing beyond the nets they feed; each instruction adds its "
        "check (the settlement contract re-hashes it, and its cash leg's state is read) and its "
        "delivery (the settlement contract spends the nonce and moves the security: a compliant "
        "`transferFrom` between two holders), about the per-instruction figure above, to be set "
        "against the two legs of a bilateral settlement in a batch (bench/results/dvp_gas.md) of "
        "which the cash leg here moves only as part of a net.",
        "",
        "## Failed deliveries",
        "",
        "A delivery token is arbitrary code, so a settlement with instructions runs its body in a call "
        "to itself and tries each delivery with at most 300,000 gas; when one fails, the attempt "
        "reverts and, after the deadline, only the failure is recorded. On the successful path that "
        f"costs the DvP round {DVP_SETTLE_BEFORE_FAILURES:,} -> {dvp['settle']:,} "
        f"({dvp['settle'] - DVP_SETTLE_BEFORE_FAILURES:+,}, "
        f"{100 * (dvp['settle'] - DVP_SETTLE_BEFORE_FAILURES) / DVP_SETTLE_BEFORE_FAILURES:+.2f}%; "
        f"{(dvp['settle'] - DVP_SETTLE_BEFORE_FAILURES) // dvp_count:+,} per instruction): the call to "
        "itself (the arguments forwarded as they came, about 2.6 KB of calldata for 10 instructions), "
        "the check that no instruction is listed twice (a sorted copy of the ids in memory), and the "
        "buffers for the failures; each delivery is a plain call with a gas cap instead of a checked "
        "high-level call. Cash-only rounds settle as before (no self-call: the rows above are "
        "unchanged within a few dozen gas). A token that refuses costs the settlement its recording "
        "(one storage write and one event per failure); one that burns all its gas costs the settler "
        "its capped attempt as well, once, and its instruction is then removed.",
    ]
    return rows, "\n".join(outro)


def main() -> int:
    """Measure, write the report, and fail if a target is missed."""
    intro = (
        "Rounds of N members with 10N obligations between random members. Each debtor approves its net\n"
        "debit, so settlement pulls from every debtor's wallet (a pre-funded debit skips that transfer).\n"
        "The target checks that settling grows linearly with members: the 200-member settlement within\n"
        "10% of 4x the 50-member one."
    )
    return run_report("netting_gas", "Netting gas report", "netting_gas.py", lambda chain: measure(Bench(chain)), intro)


if __name__ == "__main__":
    sys.exit(main())
