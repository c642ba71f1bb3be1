// Bytes is a growable byte buffer outside the managed heap: the SDK's calls
// fill and read Bytes in place, so a guest that keeps its buffers across
// calls allocates nothing per call once they have grown to size. That is
// what lets a guest run on AssemblyScript's stub runtime (no garbage
// collector: every allocation is kept for the instance's life). The
// collector of another runtime does not see a Bytes' memory either: keep
// Bytes in globals, or free() one made for a single call.

export class Bytes {
  /** Start of the bytes in linear memory. */
  ptr: usize = 0;
  /** Number of bytes in use. */
  len: i32 = 0;
  /** Bytes allocated at ptr. */
  cap: i32 = 0;

  constructor(capacity: i32 = 0) {
    if (capacity > 0) this.reserve(capacity);
  }

  /** reserve makes room for n bytes in all, keeping the content. */
  reserve(n: i32): void {
    if (n <= this.cap) return;
    let c = this.cap < 64 ? 64 : this.cap * 2;
    if (c < n) c = n;
    this.ptr = this.ptr == 0 ? heap.alloc(<usize>c) : heap.realloc(this.ptr, <usize>c);
    this.cap = c;
  }

  /** reset empties the buffer and keeps its memory. */
  reset(): Bytes {
    this.len = 0;
    return this;
  }

  /** truncate keeps the first n bytes. */
  truncate(n: i32): Bytes {
    if (n >= 0 && n < this.len) this.len = n;
    return this;
  }

  /** appendRaw appends n bytes read at ptr (which may point into this buffer). */
  appendRaw(ptr: usize, n: i32): Bytes {
    if (n <= 0) return this;
    // reserve may move the buffer: a source inside it moves with it.
    const inside = this.ptr != 0 && ptr >= this.ptr && ptr < this.ptr + <usize>this.cap;
    const offset = ptr - this.ptr;
    this.reserve(this.len + n);
    if (inside) ptr = this.ptr + offset;
    memory.copy(this.ptr + <usize>this.len, ptr, <usize>n);
    this.len += n;
    return this;
  }

  /**
   * free gives the buffer's memory back and empties it. Bytes live outside
   * the garbage collector (whatever the runtime): a Bytes made for one call
   * must be freed, or it is kept for the instance's life.
   */
  free(): void {
    if (this.ptr != 0) heap.free(this.ptr);
    this.ptr = 0;
    this.len = 0;
    this.cap = 0;
  }

  /** append appends the content of b. */
  append(b: Bytes): Bytes {
    return this.appendRaw(b.ptr, b.len);
  }

  /** appendByte appends one byte. */
  appendByte(c: u8): Bytes {
    this.reserve(this.len + 1);
    store<u8>(this.ptr + <usize>this.len, c);
    this.len++;
    return this;
  }

  /** appendString appends s encoded as UTF-8. */
  appendString(s: string): Bytes {
    const n = String.UTF8.byteLength(s);
    this.reserve(this.len + n);
    String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.ptr + <usize>this.len);
    this.len += n;
    return this;
  }

  /** appendArray appends the bytes of a. */
  appendArray(a: Uint8Array): Bytes {
    return this.appendRaw(a.dataStart, a.length);
  }

  /** at is the byte at index i (0 <= i < len). */
  at(i: i32): u8 {
    return load<u8>(this.ptr + <usize>i);
  }

  /** equals reports whether b holds the same bytes. */
  equals(b: Bytes): bool {
    return this.len == b.len && memory.compare(this.ptr, b.ptr, <usize>this.len) == 0;
  }

  /** equalsString reports whether the bytes are s in UTF-8. */
  equalsString(s: string): bool {
    const n = String.UTF8.byteLength(s);
    if (n != this.len) return false;
    for (let i = 0; i < n; i++) {
      // ASCII fast path; anything else is compared through an encoding.
      const c = s.charCodeAt(i);
      if (c >= 0x80) return this.toString() == s;
      if (<u8>c != this.at(i)) return false;
    }
    return true;
  }

  /** toString decodes the bytes as UTF-8 (allocates a string). */
  toString(): string {
    return String.UTF8.decodeUnsafe(this.ptr, <usize>this.len);
  }

  /** toUint8Array copies the bytes into a new array (allocates). */
  toUint8Array(): Uint8Array {
    const a = new Uint8Array(this.len);
    memory.copy(a.dataStart, this.ptr, <usize>this.len);
    return a;
  }
}

const hexDigits = memory.data<u8>([0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66]);

/** appendHex appends the lower-case hex of the first max bytes of b (for logs). */
export function appendHex(to: Bytes, b: Bytes, max: i32 = 4): Bytes {
  const n = b.len < max ? b.len : max;
  for (let i = 0; i < n; i++) {
    const c = b.at(i);
    to.appendByte(load<u8>(hexDigits + <usize>(c >> 4)));
    to.appendByte(load<u8>(hexDigits + <usize>(c & 15)));
  }
  return to;
}

/** appendU64 appends n in decimal. */
export function appendU64(to: Bytes, n: u64): Bytes {
  const tmp = memory.data(20);
  let i = 20;
  do {
    i--;
    store<u8>(tmp + <usize>i, <u8>(0x30 + n % 10));
    n /= 10;
  } while (n > 0);
  return to.appendRaw(tmp + <usize>i, 20 - i);
}
