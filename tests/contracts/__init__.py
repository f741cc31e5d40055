"""On-chain tests of the Solidity contracts, against a local anvil chain."""
