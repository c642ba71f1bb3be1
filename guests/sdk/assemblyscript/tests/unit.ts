// Unit tests of the SDK's pure parts (the config format, durations, Bytes),
// run by run.mjs in Node.js. What touches the host is tested against
// tlsgate's real host by guests/sdktest (sdkguest.ts).

import { Bytes, parseConfig, configError, parseDuration, appendHex, appendU64, ConfigField } from "../assembly/index";

function cfg(s: string): Bytes {
  return new Bytes().appendString(s);
}

function field(f: ConfigField[], i: i32, key: string, value: string): void {
  assert(i < f.length, "field " + i.toString() + " missing");
  assert(f[i].key == key, "field " + i.toString() + ": key \"" + f[i].key + "\", want \"" + key + "\"");
  assert(f[i].value == value, "field " + i.toString() + ": value \"" + f[i].value + "\", want \"" + value + "\"");
}

export function testConfigFields(): void {
  // A comment is a field: it ends at the next ';' as at a newline.
  const f = parseConfig(cfg(" prefix = s/ ;\n# a comment; max_ttl=2h\n\tmax_ttl=1h\r\n;;tls13_only=true"))!;
  assert(f.length == 4, "fields: " + f.length.toString() + ", want 4");
  field(f, 0, "prefix", "s/");
  field(f, 1, "max_ttl", "2h");
  field(f, 2, "max_ttl", "1h");
  field(f, 3, "tls13_only", "true");
}

export function testConfigValues(): void {
  let f = parseConfig(cfg("a=b=c"))!;
  field(f, 0, "a", "b=c");
  f = parseConfig(cfg("prefix="))!;
  field(f, 0, "prefix", "");
  f = parseConfig(cfg("k=v#not a comment"))!;
  field(f, 0, "k", "v#not a comment");
  f = parseConfig(cfg("name=é"))!;
  field(f, 0, "name", "é");
  assert(parseConfig(cfg(""))!.length == 0, "an empty config has no fields");
  assert(parseConfig(cfg(" ;\n# only a comment\n"))!.length == 0, "blank fields and comments are skipped");
}

export function testConfigErrors(): void {
  assert(parseConfig(cfg("prefix=s/;novalue")) === null, "a field without = is an error");
  assert(configError() == 'config: "novalue" is not key=value', "error: " + configError());
  assert(parseConfig(cfg("ok=1")) !== null && configError() == "", "a good parse clears the error");
}

function dur(s: string, want: i64): void {
  const got = parseDuration(s);
  assert(got == want, "parseDuration(\"" + s + "\") = " + got.toString() + ", want " + want.toString());
}

export function testDurations(): void {
  dur("0", 0);
  dur("90s", 90_000_000_000);
  dur("1h30m", 5_400_000_000_000);
  dur("1.5h", 5_400_000_000_000);
  dur("250ms", 250_000_000);
  dur("10us", 10_000);
  dur("10µs", 10_000);
  dur("7ns", 7);
  dur(".5s", 500_000_000);
  dur("", -1);
  dur("10", -1);
  dur("-1s", -1);
  dur("+1s", -1);
  dur("1d", -1);
  dur("forever", -1);
  dur("s", -1);
  dur("3000000h", -1);
}

export function testBytes(): void {
  const b = new Bytes(2);
  b.appendString("ab").appendByte(0x63).appendRaw(b.ptr, 2);
  assert(b.toString() == "abcab", "append: " + b.toString());
  assert(b.equalsString("abcab") && !b.equalsString("abca"), "equalsString");
  const h = new Bytes();
  appendHex(h, new Bytes().appendByte(0x0a).appendByte(0xff).appendByte(0).appendByte(1).appendByte(2));
  assert(h.toString() == "0aff0001", "hex: " + h.toString());
  const n = new Bytes();
  appendU64(n, 0).appendByte(0x20);
  appendU64(n, 18446744073709551615);
  assert(n.toString() == "0 18446744073709551615", "u64: " + n.toString());
  assert(b.truncate(1).toString() == "a", "truncate");
}
