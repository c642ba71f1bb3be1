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

function raw(bytes: u8[]): Bytes {
  const b = new Bytes();
  for (let i = 0; i < bytes.length; i++) b.appendByte(bytes[i]);
  return b;
}

// The same cases as guests/sdk/go/config_test.go: a config that is not
// UTF-8 is refused whatever the bytes.
export function testConfigNotUTF8(): void {
  const cases: u8[][] = [
    [0x70, 0x72, 0x65, 0x66, 0x69, 0x78, 0xc3, 0x3d, 0x78], // prefix\xc3=x
    [0x6b, 0x3d, 0x31, 0x68, 0xff], // k=1h\xff
    [0x70, 0x3d, 0xc0, 0xb0], // overlong
    [0x70, 0x3d, 0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
    [0x70, 0x3d, 0xed, 0xa0, 0x80], // a surrogate
    [0x70, 0x3d, 0xe2, 0x82], // truncated
  ];
  for (let i = 0; i < cases.length; i++) {
    assert(parseConfig(raw(cases[i])) === null, "case " + i.toString() + " accepted");
    assert(configError() == "config: not valid UTF-8", "case " + i.toString() + ": " + configError());
  }
  assert(parseConfig(raw([0x6b, 0x3d, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80])) !== null, "valid 3- and 4-byte forms refused");
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
  dur("2562047h", 9223369200000000000);
  dur("2562048h", -1);
  dur("9223372036854775807ns", 9223372036854775807);
  dur("9223372036854775808ns", -1);
  dur(".5ns.5ns", 0);
  dur("1.0000000000000000000001s", 1000000000);
  dur("5.s", 5000000000);
  dur("5.", -1);
  dur(".", -1);
  dur("1e3s", -1);
  dur("-0", -1);
  dur("μs", -1);
  dur("3μs", 3000);
  dur("668220150835ms", 668220150835000000);
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
