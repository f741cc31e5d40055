// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title Signatures
/// @notice How the project's contracts check a party's consent to a digest: the sender itself, or
///         a signature — ECDSA first (an EOA's signature costs no EXTCODESIZE), then ERC-1271 for
///         a contract party (a Safe, a bank's own wallet).
library Signatures {
    /// @dev True when `signature` is `signer`'s signature of `digest` (ECDSA, else ERC-1271).
    function isValidCalldata(address signer, bytes32 digest, bytes calldata signature) internal view returns (bool) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == signer) return true;
        return SignatureChecker.isValidERC1271SignatureNowCalldata(signer, digest, signature);
    }

    /// @dev True when `party` sent the call, or `signature` is its signature of `digest` (an empty
    ///      signature is no consent). Repeats {isValidCalldata}'s three lines rather than calling
    ///      it: the nested internal call cost about 50 gas per consent, on the DvP settlement path.
    function consents(address party, bytes32 digest, bytes calldata signature) internal view returns (bool) {
        if (party == msg.sender) return true;
        if (signature.length == 0) return false;
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == party) return true;
        return SignatureChecker.isValidERC1271SignatureNowCalldata(party, digest, signature);
    }
}
