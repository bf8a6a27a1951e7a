/** A one-line description of the machine a benchmark ran on, and small helpers for tables. */
import { availableParallelism, cpus, platform, release, totalmem } from "node:os";

/** CPU model, logical cores, memory, OS and Node.js version. */
export function machineLine(): string {
  const cpu = cpus()[0]?.model.trim() ?? "unknown CPU";
  const memoryGiB = (totalmem() / 2 ** 30).toFixed(1);
  return `${cpu}, ${availableParallelism()} logical cores, ${memoryGiB} GiB memory, ${platform()} ${release()}, Node.js ${process.version}`;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Bytes as KiB, MiB or GiB with three significant digits. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toPrecision(3)} ${units[unit]}`;
}

export function formatMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toPrecision(3);
}

export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}
