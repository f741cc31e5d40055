"""Identities only the regulator (and the account itself) can read.

At onboarding the compliance officer records each account's identity (legal name, LEI,
jurisdiction) on-chain, encrypted to the regulator's public key and to the account's own key;
anyone else sees only addresses.
"""
