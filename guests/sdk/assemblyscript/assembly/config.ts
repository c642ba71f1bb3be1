// The reference guests' configuration format (docs/abi.md section 14):
// key=value fields separated by newlines or semicolons; keys and values
// trimmed of ASCII white space; empty fields and fields starting with '#'
// skipped; a field without '=' is an error. What keys mean, and whether
// unknown ones are errors (they are for the reference guests), is each
// guest's to decide; a key given twice takes its last value.

import { Bytes } from "./bytes";

export class ConfigField {
  constructor(public key: string, public value: string) {}
}

let lastError: string = "";

/** configError describes why the last parseConfig returned null. */
export function configError(): string {
  return lastError;
}

function isSpace(c: u8): bool {
  return c == 0x20 || c == 0x09 || c == 0x0a || c == 0x0b || c == 0x0c || c == 0x0d;
}

function decode(b: Bytes, start: i32, end: i32): string {
  while (start < end && isSpace(b.at(start))) start++;
  while (end > start && isSpace(b.at(end - 1))) end--;
  return String.UTF8.decodeUnsafe(b.ptr + <usize>start, <usize>(end - start));
}

/** parseConfig splits a guest config into its fields, or returns null (see configError). */
export function parseConfig(b: Bytes): ConfigField[] | null {
  const out = new Array<ConfigField>();
  let start = 0;
  for (let i = 0; i <= b.len; i++) {
    if (i < b.len) {
      const c = b.at(i);
      if (c != 0x0a && c != 0x3b) continue; // '\n', ';'
    }
    let s = start, e = i;
    start = i + 1;
    while (s < e && isSpace(b.at(s))) s++;
    while (e > s && isSpace(b.at(e - 1))) e--;
    if (s == e || b.at(s) == 0x23) continue; // empty, or '#'
    let eq = -1;
    for (let j = s; j < e; j++) {
      if (b.at(j) == 0x3d) { eq = j; break; } // '='
    }
    if (eq < 0) {
      lastError = 'config: "' + decode(b, s, e) + '" is not key=value';
      return null;
    }
    out.push(new ConfigField(decode(b, s, eq), decode(b, eq + 1, e)));
  }
  lastError = "";
  return out;
}

/**
 * parseDuration reads a duration as Go's time.ParseDuration does (what the
 * reference guests' durations are: "90s", "1h30m", "1.5h", "250ms", "0"),
 * in nanoseconds, or returns -1 for anything else (a sign, a missing unit,
 * an unknown unit, overflow).
 */
export function parseDuration(s: string): i64 {
  if (s == "0") return 0;
  const n = s.length;
  if (n == 0) return -1;
  let i = 0;
  let total: f64 = 0;
  while (i < n) {
    // number: digits, optionally '.' digits; at least one digit in all
    let whole: f64 = 0, frac: f64 = 0, scale: f64 = 1;
    let digits = 0;
    while (i < n && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) {
      whole = whole * 10 + <f64>(s.charCodeAt(i) - 0x30);
      i++; digits++;
    }
    if (i < n && s.charCodeAt(i) == 0x2e) {
      i++;
      while (i < n && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) {
        scale /= 10;
        frac += <f64>(s.charCodeAt(i) - 0x30) * scale;
        i++; digits++;
      }
    }
    if (digits == 0) return -1;
    // unit
    const u = i;
    while (i < n && !(s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) && s.charCodeAt(i) != 0x2e) i++;
    const unit = s.substring(u, i);
    let mult: f64;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "µs" || unit == "μs") mult = 1e3;
    else if (unit == "ms") mult = 1e6;
    else if (unit == "s") mult = 1e9;
    else if (unit == "m") mult = 60e9;
    else if (unit == "h") mult = 3600e9;
    else return -1;
    total += (whole + frac) * mult;
    if (total > 9.2e18) return -1;
  }
  return <i64>total;
}
