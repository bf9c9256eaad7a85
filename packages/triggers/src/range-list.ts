/**
 * Values keyed by a number bound, answering "every value whose bound is above / below x" by
 * binary search. Sorted lazily: adds only mark it unsorted.
 */
export class RangeList<T> {
  private bounds: number[] = [];
  private values: T[] = [];
  private sorted = true;

  add(bound: number, value: T): void {
    const last = this.bounds[this.bounds.length - 1];
    if (last !== undefined && bound < last) this.sorted = false;
    this.bounds.push(bound);
    this.values.push(value);
  }

  get size(): number {
    return this.bounds.length;
  }

  private sort(): void {
    const order = this.bounds.map((_, i) => i).sort((a, b) => this.bounds[a]! - this.bounds[b]!);
    this.bounds = order.map((i) => this.bounds[i]!);
    this.values = order.map((i) => this.values[i]!);
    this.sorted = true;
  }

  /** The first index whose bound is > x (`strict`) or >= x. */
  private search(x: number, strict: boolean): number {
    if (!this.sorted) this.sort();
    let lo = 0;
    let hi = this.bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const b = this.bounds[mid]!;
      if (strict ? b <= x : b < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Values with bound > x. */
  above(x: number, out: T[]): void {
    if (this.bounds.length === 0) return;
    for (let i = this.search(x, true); i < this.values.length; i++) out.push(this.values[i]!);
  }

  /** Values with bound >= x. */
  atOrAbove(x: number, out: T[]): void {
    if (this.bounds.length === 0) return;
    for (let i = this.search(x, false); i < this.values.length; i++) out.push(this.values[i]!);
  }

  /** Values with bound < x. */
  below(x: number, out: T[]): void {
    if (this.bounds.length === 0) return;
    const end = this.search(x, false);
    for (let i = 0; i < end; i++) out.push(this.values[i]!);
  }

  /** Values with bound <= x. */
  atOrBelow(x: number, out: T[]): void {
    if (this.bounds.length === 0) return;
    const end = this.search(x, true);
    for (let i = 0; i < end; i++) out.push(this.values[i]!);
  }
}
