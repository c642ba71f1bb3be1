// npm test: compiles tests/unit.ts with the pinned asc and runs every
// exported test* function in Node.js; a failed assertion names itself.
import asc from "assemblyscript/asc";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";
import os from "node:os";

const dir = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(os.tmpdir(), `tlsgate-as-unit-${process.pid}.wasm`);
const { error, stderr } = await asc.main([path.join(dir, "unit.ts"), "-o", out, "--runtime", "stub", "--debug"]);
if (error) {
  console.error(stderr.toString());
  process.exit(1);
}
let memory;
const str = (ptr) => ptr ? Buffer.from(memory.buffer, ptr, new Uint32Array(memory.buffer, ptr - 4, 1)[0]).toString("utf16le") : "";
class Failure extends Error {}
const { instance } = await WebAssembly.instantiate(await readFile(out), {
  env: {
    abort(msg, file, line, col) { throw new Failure(`${str(msg)} (${str(file)}:${line}:${col})`); },
  },
});
memory = instance.exports.memory;
let failed = 0, passed = 0;
for (const [name, fn] of Object.entries(instance.exports)) {
  if (!name.startsWith("test") || typeof fn !== "function") continue;
  try {
    fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed || !passed ? 1 : 0);
