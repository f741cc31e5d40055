"""Net positions of a netting round, their verification, exclusions and compression (pure).

The netting contract lists a round's members in the order they first appear in registered
obligations (payer before payee) and checks a submitted vector of nets in that order. These
functions compute that vector from the obligations, mirror the contract's check (so a bad vector
is caught before it is sent), recompute after exclusions, and measure what netting saves:

- gross value: the sum of the obligations' amounts, what would move without netting;
- net value: the sum of the positive nets, what moves with it (it never exceeds the gross);
- compression: ``1 - net / gross``. The paper's example (P1 owes 40 to P2 and 50 to P3, P3 owes
  60 to P2) has gross 150 and net 100: a third of the value never moves.

A member that cannot fund its net debit is excluded: its obligations drop out of the round and
every net is recomputed. :func:`resolve_round` runs that to a fixed point, one exclusion at a time
as the contract takes them; :func:`credit_losses` says what each remaining member loses, which
is exactly what the excluded members owed it, and nothing for members that never dealt with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from dfmi_py.errors import InputError
from dfmi_py.netting.obligation import Obligation


class NetsMismatchError(InputError):
    """A vector of nets that the netting contract would reject, with the reason.

    Attributes:
        member: The first member whose entry is wrong, when the vector sums to zero.
        expected: That member's net according to the obligations.
        given: The entry given for it.
    """

    def __init__(
        self, message: str, member: str | None = None, expected: int | None = None, given: int | None = None
    ) -> None:
        self.member = member
        self.expected = expected
        self.given = given
        super().__init__(message)


def member_order(obligations: Iterable[Obligation]) -> list[str]:
    """The round's members in the contract's order: first appearance, payer before payee."""
    seen: dict[str, None] = {}
    for o in obligations:
        seen.setdefault(o.payer)
        seen.setdefault(o.payee)
    return list(seen)


def net_positions(obligations: Iterable[Obligation], members: Iterable[str] = ()) -> dict[str, int]:
    """Each member's net: what it is owed minus what it owes (positive: it receives).

    Args:
        obligations: The round's (remaining) obligations.
        members: Members to include with a zero net even if no obligation names them (e.g. the
            excluded members of a round, which keep their place in the vector).

    Returns:
        Nets by member, in :func:`member_order` order, then ``members`` not yet seen.
    """
    obligations = list(obligations)
    nets = dict.fromkeys(member_order(obligations), 0)
    for member in members:
        nets.setdefault(member, 0)
    for o in obligations:
        nets[o.payer] -= o.amount
        nets[o.payee] += o.amount
    return nets


def net_vector(obligations: Iterable[Obligation], members: Sequence[str]) -> list[int]:
    """The nets of ``members`` in that order (the contract's ``membersOf``), as ``submitNets`` takes them.

    Raises:
        InputError: an obligation names a party that is not in ``members``.
    """
    obligations = list(obligations)
    nets = net_positions(obligations)
    unknown = set(nets) - set(members)
    if unknown:
        raise InputError(f"obligations name parties outside the round's members: {sorted(unknown)}")
    return [nets.get(m, 0) for m in members]


def verify_nets(obligations: Iterable[Obligation], members: Sequence[str], nets: Sequence[int]) -> None:
    """Check ``nets`` as the contract does: one per member, summing to zero, each right.

    Raises:
        NetsMismatchError: the vector's length, sum or an entry is wrong (the first wrong member
            is named, as the contract's ``NettingNetMismatch`` names it).
    """
    if len(nets) != len(members):
        raise NetsMismatchError(f"{len(nets)} nets for a round of {len(members)} members")
    total = sum(nets)
    if total != 0:
        raise NetsMismatchError(f"the nets sum to {total}, not zero")
    expected = net_vector(obligations, members)
    for member, want, given in zip(members, expected, nets, strict=True):
        if want != given:
            raise NetsMismatchError(
                f"the net of {member} is {want} by its obligations, not {given}", member, want, given
            )


def exclude(obligations: Iterable[Obligation], excluded: Iterable[str]) -> list[Obligation]:
    """The obligations that remain when ``excluded`` members drop out (neither party excluded)."""
    out = set(excluded)
    return [o for o in obligations if o.payer not in out and o.payee not in out]


@dataclass(frozen=True)
class Compression:
    """What netting saves in one round.

    Attributes:
        gross: Sum of the obligations' amounts (what moves without netting).
        net: Sum of the positive nets (what moves with it).
    """

    gross: int
    net: int

    @property
    def saved(self) -> int:
        """Value that never moves."""
        return self.gross - self.net

    @property
    def ratio(self) -> Fraction:
        """``1 - net / gross`` (zero for an empty round)."""
        return Fraction(0) if self.gross == 0 else 1 - Fraction(self.net, self.gross)


def compression(obligations: Iterable[Obligation]) -> Compression:
    """The gross and net value of ``obligations``."""
    obligations = list(obligations)
    nets = net_positions(obligations)
    return Compression(gross=sum(o.amount for o in obligations), net=sum(n for n in nets.values() if n > 0))


def credit_losses(obligations: Iterable[Obligation], excluded: Iterable[str]) -> dict[str, int]:
    """What each remaining member is no longer paid in the round: what excluded members owed it.

    Only direct counterparties of an excluded member appear; each amount is its gross claim on
    the excluded members (which stays a claim outside the round).
    """
    out = set(excluded)
    losses: dict[str, int] = {}
    for o in obligations:
        if o.payer in out and o.payee not in out:
            losses[o.payee] = losses.get(o.payee, 0) + o.amount
    return losses


@dataclass(frozen=True)
class RoundOutcome:
    """How a round settles once every member that cannot fund its net debit is excluded.

    Attributes:
        members: The round's members, in the contract's order.
        excluded: Excluded members, in the order they were excluded.
        obligations: The obligations that remain.
        nets: Final nets of every member (zero for the excluded), in ``members`` order.
        compression: Gross and net value of the remaining obligations.
        losses: What each remaining member is no longer paid (see :func:`credit_losses`).
    """

    members: list[str]
    excluded: list[str]
    obligations: list[Obligation]
    nets: dict[str, int]
    compression: Compression
    losses: dict[str, int] = field(default_factory=dict)


def resolve_round(
    obligations: Sequence[Obligation],
    available: Mapping[str, int],
    inactive: Iterable[str] = (),
    members: Sequence[str] | None = None,
) -> RoundOutcome:
    """Exclude, one at a time, the first member (in round order) that blocks the settlement.

    A member blocks when its net debit exceeds what it can fund (``available``: pre-funding plus
    what the contract can pull from its wallet, which is nothing for a member that is not
    onboarded), or when it is in ``inactive`` (not onboarded) and would receive a net credit.
    Each exclusion recomputes the nets, which can make another member short (it no longer
    receives what would have covered its payments): the loop runs until nobody blocks. This is
    the order in which :meth:`dfmi_py.api.netting.Netting.resolve` excludes on-chain.

    Args:
        obligations: The round's registered obligations.
        available: What each member can fund (as the contract's ``fundingOf``); missing members
            can fund nothing.
        inactive: Members that are not onboarded (they cannot receive).
        members: The round's member order (default: :func:`member_order`).
    """
    order = list(members) if members is not None else member_order(obligations)
    barred = set(inactive)
    excluded: list[str] = []
    remaining = list(obligations)
    while True:
        nets = net_positions(remaining, order)
        blocker = next(
            (
                m
                for m in order
                if m not in excluded
                and ((nets[m] < 0 and available.get(m, 0) < -nets[m]) or (nets[m] > 0 and m in barred))
            ),
            None,
        )
        if blocker is None:
            break
        excluded.append(blocker)
        remaining = exclude(remaining, [blocker])
    return RoundOutcome(
        members=order,
        excluded=excluded,
        obligations=remaining,
        nets={m: nets[m] for m in order},
        compression=compression(remaining),
        losses=credit_losses(obligations, excluded),
    )
