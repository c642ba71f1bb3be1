// Re-export this from a guest's entry file to declare ABI version 1:
//
//   export { tlsgate_abi_v1 } from "@tlsgate/guest/assembly/marker";

/** The ABI v1 marker export; never called. */
export function tlsgate_abi_v1(): void {}
