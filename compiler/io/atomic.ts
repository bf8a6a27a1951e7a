import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { PeftcError } from "../errors.js";

const pendingTemps = new Set<string>();
let handlersInstalled = false;

/** Removes temp files left by an interrupted write, then exits the way the signal would have. */
function installSignalCleanup(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      for (const temp of pendingTemps) rmSync(temp, { force: true });
      process.kill(process.pid, signal);
    });
  }
}

/** Messages for the usual reasons a write or rename fails, by errno code. */
const WRITE_FAILURES: Record<string, string> = {
  EISDIR: "it is a directory; pass a file path to write the plan to",
  EACCES: "permission denied; choose a writable path",
  EPERM: "permission denied; choose a writable path",
  EROFS: "the file system is read-only; choose a writable path",
  ENOSPC: "no space left on the device",
};

/**
 * Writes `data` to `path` through a temp file in the same directory and a rename, so a reader
 * sees either the previous file or the complete new one, never a partial write.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const dir = dirname(path);
  let dirIsDirectory = false;
  try {
    dirIsDirectory = statSync(dir).isDirectory();
  } catch {
    dirIsDirectory = false;
  }
  if (!dirIsDirectory) {
    throw new PeftcError("output-dir-missing", `cannot write ${path}: directory ${dir} does not exist; create it first`, {
      file: path,
    });
  }
  installSignalCleanup();
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  pendingTemps.add(temp);
  try {
    const fd = openSync(temp, "wx", 0o644);
    try {
      const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
      let offset = 0;
      while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    if (err instanceof PeftcError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code !== undefined ? (WRITE_FAILURES[code] ?? code) : (err as Error).message;
    throw new PeftcError("output-write-failed", `cannot write ${path}: ${reason}`, { file: path });
  } finally {
    pendingTemps.delete(temp);
  }
}
