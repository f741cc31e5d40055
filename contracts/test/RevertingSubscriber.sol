// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC165} from "@openzeppelin/contracts/utils/introspection/ERC165.sol";
import {AccountStatus, IComplianceSubscriber} from "../interfaces/IComplianceRegistry.sol";

/// @title RevertingSubscriber
/// @notice Test fixture only: declares {IComplianceSubscriber} and reverts on every status change, as
///         a broken or hostile subscriber would, blocking every status change of the registry.
contract RevertingSubscriber is ERC165, IComplianceSubscriber {
    error RevertingSubscriberRefused(address account);

    function complianceStatusChanged(address account, AccountStatus) external pure {
        revert RevertingSubscriberRefused(account);
    }

    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IComplianceSubscriber).interfaceId || super.supportsInterface(interfaceId);
    }
}
