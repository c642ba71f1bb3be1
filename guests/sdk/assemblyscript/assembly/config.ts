// The reference guests' configuration format (docs/abi.md section 14):
// key=value fields separated by newlines or semicolons; keys and values
// trimmed of ASCII white space; empty fields and fields starting with '#'
// skipped; a field without '=' is an error, and so is a config that is not
// valid UTF-8. What keys mean, and whether
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

/** validUTF8 reports whether b is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
export function validUTF8(b: Bytes): bool {
  let i = 0;
  while (i < b.len) {
    const c = <u32>b.at(i);
    if (c < 0x80) { i++; continue; }
    let n = 0, min: u32 = 0, cp: u32 = 0;
    if ((c & 0xe0) == 0xc0) { n = 1; min = 0x80; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { n = 2; min = 0x800; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { n = 3; min = 0x10000; cp = c & 0x07; }
    else return false;
    if (i + n > b.len - 1) return false;
    for (let k = 1; k <= n; k++) {
      const cc = <u32>b.at(i + k);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

/** parseConfig splits a guest config into its fields, or returns null (see configError). */
export function parseConfig(b: Bytes): ConfigField[] | null {
  if (!validUTF8(b)) {
    lastError = "config: not valid UTF-8";
    return null;
  }
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
 * parseDuration reads a duration exactly as Go's time.ParseDuration does,
 * without a sign (the reference guests' durations: "90s", "1h30m", "1.5h",
 * "250ms", "0"): its value in nanoseconds, or -1 for anything else (a sign,
 * a missing or unknown unit, no digits, more than 2^63-1 ns).
 */
export function parseDuration(s: string): i64 {
  if (s == "0") return 0;
  const n = s.length;
  if (n == 0) return -1;
  const LIMIT: u64 = 1 << 63;
  let d: u64 = 0;
  let i = 0;
  while (i < n) {
    let c = s.charCodeAt(i);
    if (!(c == 0x2e || (c >= 0x30 && c <= 0x39))) return -1;
    // the integer part
    let v: u64 = 0;
    const start = i;
    while (i < n) {
      c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      if (v > LIMIT / 10) return -1;
      v = v * 10 + <u64>(c - 0x30);
      if (v > LIMIT) return -1;
      i++;
    }
    const pre = i > start;
    // the fraction: digits past what fits are ignored, as Go does
    let f: u64 = 0;
    let scale: f64 = 1;
    let post = false;
    if (i < n && s.charCodeAt(i) == 0x2e) {
      i++;
      const fs = i;
      let overflow = false;
      while (i < n) {
        c = s.charCodeAt(i);
        if (c < 0x30 || c > 0x39) break;
        i++;
        if (overflow) continue;
        if (f > (LIMIT - 1) / 10) { overflow = true; continue; }
        const y = f * 10 + <u64>(c - 0x30);
        if (y > LIMIT) { overflow = true; continue; }
        f = y;
        scale *= 10;
      }
      post = i > fs;
    }
    if (!pre && !post) return -1;
    // the unit
    const us = i;
    while (i < n) {
      c = s.charCodeAt(i);
      if (c == 0x2e || (c >= 0x30 && c <= 0x39)) break;
      i++;
    }
    if (i == us) return -1;
    const unit = s.substring(us, i);
    let mult: u64 = 0;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "\u00b5s" || unit == "\u03bcs") mult = 1000;
    else if (unit == "ms") mult = 1000000;
    else if (unit == "s") mult = 1000000000;
    else if (unit == "m") mult = 60000000000;
    else if (unit == "h") mult = 3600000000000;
    else return -1;
    if (v > LIMIT / mult) return -1;
    v *= mult;
    if (f > 0) {
      v += <u64>(<f64>f * (<f64>mult / scale));
      if (v > LIMIT) return -1;
    }
    d += v;
    if (d > LIMIT) return -1;
  }
  if (d > LIMIT - 1) return -1;
  return <i64>d;
}
