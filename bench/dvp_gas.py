"""Gas report of atomic DvP/PvP settlement: deploys its own registry, two cash tokens (USD, EUR),
a security and the settlement contract on a fresh Anvil, measures each operation, and writes
bench/results/dvp_gas.md.

    .venv/bin/python bench/dvp_gas.py

Every figure is the ``gasUsed`` of a real transaction's receipt (21,000 intrinsic gas included).
Parties hold both tokens of their legs and have approved the settlement contract without limit
(the usual set-up of a settlement account). Settlements are sent by a keeper that is not a party,
with both parties' signatures, unless a row says otherwise. "Steady state" means the pair has
settled before, so the word of its nonce bitmap is already in use (one pair's first settlement
in each 128 pays 17,100 more to start a word, shown in its own rows).
"""

from __future__ import annotations

import sys
from typing import Any

from eth_account.signers.local import LocalAccount
from report import Row, fresh_accounts, run_report
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from dfmi_py.api.settlement import Settlement
from dfmi_py.chain import Chain, dev_account

USD = 10**6
SHARES = 1_000_000
CASH = 10**9 * USD
MAX = 2**256 - 1


class Bench:
    """A registry, USD and EUR cash tokens, a security, the settlement contract, and accounts."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.admin = dev_account(0)
        self.keeper = dev_account(1)
        self.deploy_gas: dict[str, int] = {}
        self.registry = self._deploy("ComplianceRegistry", [self.admin.address])
        self.usd = self._deploy("CashToken", ["Bench USD", "BUSD", 6, self.registry.address, self.admin.address])
        self.eur = self._deploy("CashToken", ["Bench EUR", "BEUR", 6, self.registry.address, self.admin.address])
        self.security = self._deploy(
            "SecurityToken", ["Bench Bond 2030", "BB30", 0, self.registry.address, self.admin.address]
        )
        # No netting contract: the settlement rows measure bilateral settlement only.
        contract = self._deploy("AtomicSettlement", ["0x" + "00" * 20])
        self.settlement = Settlement(chain, contract)
        self._send(
            self.registry.functions.grantRole(self.registry.functions.COMPLIANCE_ROLE().call(), self.admin.address)
        )
        for cash in (self.usd, self.eur):
            self._send(cash.functions.grantRole(cash.functions.MASTER_MINTER_ROLE().call(), self.admin.address))
        self._send(self.security.functions.grantRole(self.security.functions.ISSUER_ROLE().call(), self.admin.address))
        for token in (self.usd, self.eur, self.security):
            self._send(self.registry.functions.addSubscriber(token.address))
        self._send(self.registry.functions.onboardBatch([self.admin.address, contract.address]))
        for cash in (self.usd, self.eur):
            self._send(cash.functions.configureMinter(self.admin.address, 10**40))

    def _deploy(self, name: str, args: list[Any]) -> Any:
        contract, receipt = self.chain.deploy(name, args, self.admin)
        self.deploy_gas[name] = int(receipt["gasUsed"])
        return contract

    def _send(self, call: ContractFunction, sender: LocalAccount | None = None) -> TxReceipt:
        return self.chain.transact(call, sender or self.admin)

    def new_accounts(self, count: int) -> list[LocalAccount]:
        """``count`` fresh accounts: gas money, onboarded, holding every token, settlement approved."""
        accounts = fresh_accounts(self.chain, self.admin, count)
        for start in range(0, count, 50):
            self._send(self.registry.functions.onboardBatch([a.address for a in accounts[start : start + 50]]))
        for account in accounts:
            self._send(self.usd.functions.mint(account.address, CASH))
            self._send(self.eur.functions.mint(account.address, CASH))
            self._send(self.security.functions.issue(account.address, SHARES))
            for token in (self.usd, self.eur, self.security):
                self._send(token.functions.approve(self.settlement.address, MAX), account)
        return accounts

    def now(self) -> int:
        return int(self.chain.w3.eth.get_block("latest")["timestamp"])

    def dvp(self, seller: LocalAccount, buyer: LocalAccount, nonce: int, quantity: int = 100) -> Any:
        return self.settlement.dvp(
            seller.address, self.security.address, quantity, buyer.address, self.usd.address, 98_765_432_100,
            deadline=self.now() + 3600, nonce=nonce,
        )  # fmt: skip


def measure(bench: Bench) -> list[Row]:
    rows = [Row(f"deploy {name}", gas) for name, gas in bench.deploy_gas.items() if name != "ComplianceRegistry"]
    settlement, keeper = bench.settlement, bench.keeper
    seller, buyer, a, b = bench.new_accounts(4)

    transfer = bench.chain.transact(bench.security.functions.transfer(buyer.address, 1), seller)
    rows.append(Row("for comparison: a SecurityToken transfer between two holders", int(transfer["gasUsed"])))
    bench.chain.transact(bench.usd.functions.approve(a.address, MAX), buyer)
    cash_pull = bench.chain.transact(bench.usd.functions.transferFrom(buyer.address, seller.address, 1), a)
    rows.append(
        Row(
            "for comparison: a CashToken transferFrom (unlimited allowance), sent by the spender",
            int(cash_pull["gasUsed"]),
            note="a settlement makes two of these from a contract (+2,600 each for the cold token)",
        )
    )

    first = settlement.signed(bench.dvp(seller, buyer, 0), seller, buyer)
    gas_first = int(_receipt(bench, settlement.contract.functions.settle(*first.as_tuple()), keeper)["gasUsed"])
    rows.append(Row("signed DvP, the pair's first settlement (new nonce word)", gas_first))
    steady = settlement.signed(bench.dvp(seller, buyer, 1), seller, buyer)
    rows.append(
        Row(
            "signed DvP settlement (both signatures, sent by a keeper), steady state",
            int(_receipt(bench, settlement.contract.functions.settle(*steady.as_tuple()), keeper)["gasUsed"]),
            target=90_000,
            note="two USDC transferFrom transactions: about 102,500",
        )
    )
    by_buyer = settlement.signed(bench.dvp(seller, buyer, 2), seller)
    rows.append(
        Row(
            "signed DvP sent by the buyer (seller's signature only), steady state",
            int(_receipt(bench, settlement.contract.functions.settle(*by_buyer.as_tuple()), buyer)["gasUsed"]),
        )
    )

    proposed = bench.dvp(seller, buyer, 3)
    gas_propose = int(_receipt(bench, settlement.contract.functions.propose(proposed.as_tuple()), seller)["gasUsed"])
    gas_affirm = int(_receipt(bench, settlement.contract.functions.affirm(proposed.as_tuple()), buyer)["gasUsed"])
    rows.append(Row("propose DvP (seller)", gas_propose))
    rows.append(Row("affirm DvP, settling at once (buyer)", gas_affirm))
    rows.append(Row("propose + affirm DvP, in all", gas_propose + gas_affirm))

    usd, eur = bench.usd.address, bench.eur.address
    deadline = bench.now() + 3600
    pvp = settlement.pvp(a.address, usd, 1_085_000 * USD, b.address, eur, 1_000_000 * USD, deadline=deadline, nonce=0)
    _receipt(bench, settlement.contract.functions.settle(*settlement.signed(pvp, a, b).as_tuple()), keeper)
    second = settlement.signed(pvp.but(nonce=1), a, b)
    gas_pvp = int(_receipt(bench, settlement.contract.functions.settle(*second.as_tuple()), keeper)["gasUsed"])
    rows.append(Row("signed PvP settlement (USD against EUR), steady state", gas_pvp))
    cancelled = bench.dvp(seller, buyer, 4)
    rows.append(
        Row(
            "cancel (a party)",
            int(_receipt(bench, settlement.contract.functions.cancel(cancelled.as_tuple()), buyer)["gasUsed"]),
        )
    )

    # A batch of 100 DvPs between 200 accounts no other instruction touches, twice: first each
    # pair's first settlement, then the steady state.
    crowd = bench.new_accounts(200)
    for nonce, label, target in (
        (0, "each pair's first settlement (new nonce words)", None),
        (1, "steady state", 70_000),
    ):
        pairs = [(crowd[2 * i], crowd[2 * i + 1]) for i in range(100)]
        batch = [settlement.signed(bench.dvp(s, b, nonce, quantity=10 + i), s, b) for i, (s, b) in enumerate(pairs)]
        receipt = _receipt(bench, settlement.contract.functions.settleBatch([s.as_tuple() for s in batch]), keeper)
        outcomes = settlement.outcomes(receipt)
        assert len(outcomes) == 100
        assert all(o.settled for o in outcomes), [o.describe() for o in outcomes]
        rows.append(
            Row(
                f"settleBatch of 100 signed DvPs, per instruction, {label}",
                int(receipt["gasUsed"]) // 100,
                target=target,
                note="200 distinct parties",
            )
        )
    return rows


def _receipt(bench: Bench, call: ContractFunction, sender: LocalAccount) -> TxReceipt:
    receipt = bench.chain.transact(call, sender)
    outcomes = bench.settlement.outcomes(receipt)
    assert all(o.settled for o in outcomes), [o.describe() for o in outcomes]
    return receipt


INTRO = (
    "Parties hold both tokens of their legs and approved the settlement contract without limit.\n"
    "Settlements are sent by a keeper that is not a party, with both parties' signatures, unless\n"
    "a row says otherwise. Steady state: the pair has settled before, so the word of its nonce\n"
    "bitmap (128 nonces) is in use; a pair's first settlement in each 128 starts a word (+17,100)."
)
OUTRO = (
    "Why the single signed settlement misses 90,000 (from a step trace of the keeper-sent row):\n"
    "21,000 intrinsic; about 5,100 of calldata (the eight-word instruction and two 65-byte\n"
    "signatures); about 48,900 inside the two tokens (each compliant `transferFrom` reads the\n"
    "spender's, the sender's and the receiver's status, the pause flag, the allowance and both\n"
    "balances, all cold, and writes two balances); 5,200 to call the two cold token contracts;\n"
    "6,200 for two `ecrecover`s; 5,000 to spend the nonce. That is about 91,400 before any of the\n"
    "contract's own logic, above the target. The rest: the reentrancy guard's slot (about 2,300\n"
    "net of its refund), the `InstructionSettled` event (1,875) and the contract's code\n"
    "(ABI decoding, EIP-712 hashing, checks: about 8,500 at 1,000 optimizer runs). In a batch the\n"
    "token contracts, their pause flags, the settlement contract's own status and the guard are\n"
    "warm after the first instruction, which is why the per-instruction figure is far lower."
)


def main() -> int:
    """Measure, write the report, and fail if a target is missed."""
    return run_report(
        "dvp_gas", "DvP / PvP settlement gas report", "dvp_gas.py", lambda chain: (measure(Bench(chain)), OUTRO), INTRO
    )


if __name__ == "__main__":
    sys.exit(main())
