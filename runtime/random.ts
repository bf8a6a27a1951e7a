/**
 * A small seeded pseudo-random generator (mulberry32), so adapter initialisation and dropout
 * masks are reproducible when a seed is given. Not for cryptography.
 */
export class Rng {
  private state: number;

  constructor(seed: number = Math.floor(Math.random() * 2 ** 32)) {
    this.state = seed >>> 0;
  }

  /** Draws a uniform float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Draws a 31-bit integer, e.g. a seed for tfjs ops that take one. */
  nextSeed(): number {
    return Math.floor(this.next() * 2 ** 31);
  }

  uniform(count: number, low: number, high: number): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = low + (high - low) * this.next();
    return out;
  }

  /** Normal samples by the Box-Muller transform. */
  normal(count: number, mean = 0, std = 1): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i += 2) {
      const u1 = 1 - this.next();
      const u2 = this.next();
      const radius = Math.sqrt(-2 * Math.log(u1));
      out[i] = mean + std * radius * Math.cos(2 * Math.PI * u2);
      if (i + 1 < count) out[i + 1] = mean + std * radius * Math.sin(2 * Math.PI * u2);
    }
    return out;
  }

  /**
   * PyTorch's `kaiming_uniform_(w, a)` for a weight whose fan-in is `fanIn`: uniform in
   * [-bound, bound] with bound = sqrt(6 / ((1 + a^2) * fanIn)). With a = sqrt(5), as nn.Linear
   * and PEFT's lora_A use, the bound is 1 / sqrt(fanIn).
   */
  kaimingUniform(count: number, fanIn: number, a = Math.sqrt(5)): Float32Array {
    const bound = Math.sqrt(6 / ((1 + a * a) * fanIn));
    return this.uniform(count, -bound, bound);
  }
}
