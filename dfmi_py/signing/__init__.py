"""EIP-712 typed data: pure builders of the messages our contracts verify, and signing."""

from dfmi_py.signing.eip712 import Domain, Signature, permit_message, sign_typed

__all__ = ["Domain", "Signature", "permit_message", "sign_typed"]
