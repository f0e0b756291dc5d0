// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title SettlementToken
/// @notice A test stablecoin (6 decimals, like USDC) in which partners settle on a local or
/// test chain. In production `Clearing` is deployed against a real stablecoin instead.
contract SettlementToken is ERC20, ERC20Permit, Ownable {
    /// @param owner_ The account that may mint (the deployer on a local chain).
    constructor(address owner_) ERC20("Coalition Settlement USD", "cUSD") ERC20Permit("Coalition Settlement USD") Ownable(owner_) {}

    /// @notice 6, like the stablecoins it stands in for.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mints test funds.
    /// @param to Receiver.
    /// @param amount Amount in 10^-6 units.
    /// Emits a {Transfer} event.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
