"""What every component's API shares: its chain, its contract, and the contract's EIP-712 domain."""

from __future__ import annotations

from web3.contract import Contract

from dfmi_py.api.guard import guard_public_methods
from dfmi_py.chain.client import Chain, checksum
from dfmi_py.signing import Domain


class ContractAPI:
    """Base of the component APIs.

    Args:
        chain: The chain.
        contract: The component's deployed contract.
    """

    def __init_subclass__(cls, **kwargs: object) -> None:
        """Every component's public methods go through the guard (:mod:`dfmi_py.api.guard`)."""
        super().__init_subclass__(**kwargs)
        guard_public_methods(cls)

    def __init__(self, chain: Chain, contract: Contract) -> None:
        self.chain = chain
        self.contract = contract

    @property
    def address(self) -> str:
        """The contract's address."""
        return str(self.contract.address)

    def eip712_domain(self) -> Domain:
        """The contract's EIP-712 domain, as it reports it (ERC-5267 ``eip712Domain``)."""
        _, name, version, chain_id, verifying_contract, _, _ = self.contract.functions.eip712Domain().call()
        return Domain(name, version, chain_id, checksum(verifying_contract))
