// Logging through the gateway's log (docs/abi.md section 5, log).

import * as host from "./host";
import { Level, MAX_LOG_LEN } from "./abi";
import { Bytes } from "./bytes";

const scratch = new Bytes(256);

/** log writes msg at level; messages over 4096 bytes are truncated by the host. */
export function log(level: Level, msg: string): void {
  scratch.reset().appendString(msg);
  host.log(level, scratch.ptr, scratch.len < MAX_LOG_LEN ? scratch.len : MAX_LOG_LEN);
}

/** logBytes writes the bytes of b at level. */
export function logBytes(level: Level, b: Bytes): void {
  host.log(level, b.ptr, b.len < MAX_LOG_LEN ? b.len : MAX_LOG_LEN);
}

export function debug(msg: string): void { log(Level.DEBUG, msg); }
export function info(msg: string): void { log(Level.INFO, msg); }
export function warn(msg: string): void { log(Level.WARN, msg); }
export function error(msg: string): void { log(Level.ERROR, msg); }
