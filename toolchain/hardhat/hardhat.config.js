// Hardhat 3's node as a second, independent JSON-RPC implementation beside Anvil (see
// dfmi_py/node/hardhat.py, which starts it). One simulated L1 chain at the hardfork the contracts
// are compiled for, with the development mnemonic's accounts (the same addresses as on Anvil).
import { defineConfig } from "hardhat/config";

const accounts = Number.parseInt(process.env.DFMI_HARDHAT_ACCOUNTS ?? "30", 10);
const chainId = Number.parseInt(process.env.DFMI_HARDHAT_CHAIN_ID ?? "31337", 10);

export default defineConfig({
  networks: {
    node: {
      type: "edr-simulated",
      chainType: "l1",
      chainId,
      hardfork: "cancun",
      accounts: {
        mnemonic: "test test test test test test test test test test test junk",
        count: accounts,
      },
    },
  },
  paths: {
    // The node watches <artifacts>/build-info; keep what it writes out of the sources.
    artifacts: process.env.DFMI_HARDHAT_ARTIFACTS ?? "./artifacts",
    cache: process.env.DFMI_HARDHAT_CACHE ?? "./cache",
  },
});
