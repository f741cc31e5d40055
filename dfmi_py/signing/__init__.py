"""EIP-712 typed data: pure builders of the messages our contracts verify, and signing."""

from dfmi_py.signing.eip712 import (
    Domain,
    Signature,
    amendment_message,
    permit_message,
    sign_typed,
    termination_message,
)

__all__ = ["Domain", "Signature", "amendment_message", "permit_message", "sign_typed", "termination_message"]
