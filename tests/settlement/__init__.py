"""On-chain tests of the security token and atomic DvP/PvP settlement."""
