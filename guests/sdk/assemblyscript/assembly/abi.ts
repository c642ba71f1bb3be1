// The numbers of tlsgate's guest ABI v1 (1.1), as docs/abi.md gives them.
// They are fixed and never reused.

/** Status codes (docs/abi.md section 4). Hooks return one of these. */
export enum Status {
  OK = 0,
  NOT_FOUND = 1,
  BAD_ARGUMENT = 2,
  INVALID_MEMORY = 3,
  PENDING = 4,
  TIMEOUT = 5,
  ACCESS_DENIED = 6,
  LIMIT_EXCEEDED = 7,
  INTERNAL = 8,
  UNIMPLEMENTED = 9,
  UNAVAILABLE = 10,
  EXISTS = 11,
  BAD_HANDLE = 12,
}

/** Input kinds (docs/abi.md section 6). */
export enum Input {
  SESSION_ID = 1,
  SESSION = 2,
  TTL = 3,
  TENANT = 4,
  SERVER_NAME = 5,
  ALPN = 6,
  TLS_VERSION = 7,
  CLIENT_ADDR = 8,
  GUEST_CONFIG = 9,
  MECHANISM = 10,
  CALL = 11,
  SESSION_CREATED = 12,
  ALPN_OFFERED = 13,
  SUPPORTED_VERSIONS = 14,
  CIPHER_SUITES = 15,
  SUPPORTED_GROUPS = 16,
  SIGNATURE_SCHEMES = 17,
  EXTENSIONS = 18,
  JA4 = 19,
  CERTIFICATES = 20,
  UPSTREAM = 21,
}

/** Which export is running (the CALL input). */
export enum Call {
  INIT = 1,
  FETCH = 2,
  STORE = 3,
  CLIENT_HELLO = 4,
  CERTIFICATE = 5,
  UPSTREAM_FETCH = 6,
  UPSTREAM_STORE = 7,
}

/** How the client offered its session (the MECHANISM input). */
export enum Mechanism {
  TLS13_PSK = 1,
  TLS12_TICKET = 2,
  TLS12_ID = 3,
}

/** Key types of the CERTIFICATES input. */
export enum KeyType {
  OTHER = 0,
  ECDSA = 1,
  RSA = 2,
  ED25519 = 3,
}

/** Log levels. */
export enum Level {
  DEBUG = 0,
  INFO = 1,
  WARN = 2,
  ERROR = 3,
}

/** TLS versions as the TLS_VERSION input carries them. */
export const TLS12: u32 = 0x0303;
export const TLS13: u32 = 0x0304;

/** Limits (docs/abi.md section 9). */
export const MAX_KEY_LEN: i32 = 512;
export const MAX_VALUE_LEN: i32 = 65536;
export const MAX_SESSION_LEN: i32 = 65536;
export const MAX_HANDLES: i32 = 64;
export const MAX_LOG_LEN: i32 = 4096;
export const MAX_INPUT_LEN: i32 = 65536;
export const MAX_NAME_LEN: i32 = 64;
/** The longest session identifier the host passes (docs/abi.md section 6). */
export const MAX_SESSION_ID_LEN: i32 = 32;

/** statusName is the name of a status, for logs: "NOT_FOUND", or "status 42". */
export function statusName(s: i32): string {
  switch (s) {
    case Status.OK: return "OK";
    case Status.NOT_FOUND: return "NOT_FOUND";
    case Status.BAD_ARGUMENT: return "BAD_ARGUMENT";
    case Status.INVALID_MEMORY: return "INVALID_MEMORY";
    case Status.PENDING: return "PENDING";
    case Status.TIMEOUT: return "TIMEOUT";
    case Status.ACCESS_DENIED: return "ACCESS_DENIED";
    case Status.LIMIT_EXCEEDED: return "LIMIT_EXCEEDED";
    case Status.INTERNAL: return "INTERNAL";
    case Status.UNIMPLEMENTED: return "UNIMPLEMENTED";
    case Status.UNAVAILABLE: return "UNAVAILABLE";
    case Status.EXISTS: return "EXISTS";
    case Status.BAD_HANDLE: return "BAD_HANDLE";
  }
  return "status " + s.toString();
}
