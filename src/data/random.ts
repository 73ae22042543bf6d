/**
 * xoshiro128** (Blackman & Vigna), seeded through splitmix32. Only 32-bit integer ops, so the
 * stream is identical on every machine; the state is four u32 that serialise losslessly.
 */
export type RandomState = [number, number, number, number]

export class Random {
  private s0: number
  private s1: number
  private s2: number
  private s3: number
  /** Cached second Box-Muller output; part of the state. */
  private spare: number | undefined

  constructor (seed: number | string = 0) {
    let x = typeof seed === 'number' ? seed >>> 0 : hashString(seed)
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0
      let z = x
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
      return (z ^ (z >>> 16)) >>> 0
    }
    this.s0 = next(); this.s1 = next(); this.s2 = next(); this.s3 = next()
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1
  }

  /** A new generator whose stream depends only on this seed and the label (for independent sub-streams). */
  static derive (seed: number, label: string): Random {
    return new Random(hashString(`${seed >>> 0}/${label}`))
  }

  nextUint32 (): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0
    const t = this.s1 << 9
    this.s2 ^= this.s0
    this.s3 ^= this.s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = rotl(this.s3, 11)
    return result
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextFloat (): number {
    const hi = this.nextUint32() >>> 5
    const lo = this.nextUint32() >>> 6
    return (hi * 67108864 + lo) / 9007199254740992
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling). */
  nextInt (n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 0x100000000) {
      throw new RangeError(`nextInt: n must be an integer in [1, 2^32], got ${n}`)
    }
    const limit = 0x100000000 - (0x100000000 % n)
    for (;;) {
      const r = this.nextUint32()
      if (r < limit) return r % n
    }
  }

  /**
   * Standard normal (Box-Muller). Uses Math.log/cos, which V8 implements with the same fdlibm
   * port everywhere; data clustering never calls this, so shards do not depend on it.
   */
  normal (): number {
    if (this.spare !== undefined) {
      const s = this.spare
      this.spare = undefined
      return s
    }
    let u = 0
    while (u === 0) u = this.nextFloat()
    const v = this.nextFloat()
    const r = Math.sqrt(-2 * Math.log(u))
    this.spare = r * Math.sin(2 * Math.PI * v)
    return r * Math.cos(2 * Math.PI * v)
  }

  /** Fisher-Yates in place; returns its argument. */
  shuffle<T extends { length: number, [i: number]: any }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1)
      const tmp = array[i]
      array[i] = array[j]
      array[j] = tmp
    }
    return array
  }

  /** [0, 1, ..., n-1] in a random order. */
  permutation (n: number): Uint32Array {
    const p = new Uint32Array(n)
    for (let i = 0; i < n; i++) p[i] = i
    return this.shuffle(p)
  }

  getState (): RandomJSON {
    return { s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0], spare: this.spare ?? null }
  }

  setState (state: RandomJSON): void {
    const s = state.s
    const isU32 = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xffffffff
    if (!Array.isArray(s) || s.length !== 4 || !s.every(isU32) || s.every(v => v === 0)) {
      throw new RangeError('Random.setState: expected four u32 words, not all zero')
    }
    if (state.spare !== null && typeof state.spare !== 'number') {
      throw new RangeError('Random.setState: spare must be a number or null')
    }
    this.s0 = s[0]; this.s1 = s[1]; this.s2 = s[2]; this.s3 = s[3]
    this.spare = state.spare ?? undefined
  }

  static fromState (state: RandomJSON): Random {
    const r = new Random(1)
    r.setState(state)
    return r
  }
}

/** Serialisable generator state (JSON-safe). */
export interface RandomJSON {
  s: RandomState
  spare: number | null
}

function rotl (x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0
}

/** FNV-1a over UTF-16 code units: a stable 32-bit seed from a label. */
function hashString (s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h >>> 0
}
