// @tlsgate/guest: the AssemblyScript SDK for tlsgate guests (ABI v1, 1.1).
// See README.md; docs/abi.md in the tlsgate repository is the normative spec.

export * from "./abi";
export * from "./bytes";
export * from "./input";
export * from "./log";
export * from "./config";
import * as kv from "./kv";
export { kv };
import * as host from "./host";
export { host };
