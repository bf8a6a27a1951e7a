import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, lstatSync, openSync, readlinkSync, realpathSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { open, rename } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
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
  EISDIR: "it is a directory; pass a file path to write to",
  EACCES: "permission denied; choose a writable path",
  EPERM: "permission denied; choose a writable path",
  EROFS: "the file system is read-only; choose a writable path",
  ENOSPC: "no space left on the device",
};

/**
 * Finds where a write to `path` should go. A symbolic link is followed, so the link stays and its target
 * gets the new content. An existing device, pipe or socket (such as /dev/null) is written to
 * directly, because replacing it with a regular file would break it for everything else.
 */
function outputTarget(path: string): { path: string; direct: boolean } {
  let stats;
  try {
    stats = lstatSync(path);
  } catch {
    return { path, direct: false };
  }
  if (stats.isSymbolicLink()) {
    let target: string;
    try {
      target = realpathSync(path);
    } catch {
      // A dangling link: write the file it names.
      target = resolve(dirname(path), readlinkSync(path));
    }
    return outputTarget(target);
  }
  const special = !stats.isFile() && !stats.isDirectory();
  return { path, direct: special };
}

/** Checks that the directory of `path` exists and returns a fresh temp file name beside `path`. */
function tempPathFor(path: string): string {
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
  return join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
}

function writeFailure(err: unknown, path: string): PeftcError {
  if (err instanceof PeftcError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const reason = code !== undefined ? (WRITE_FAILURES[code] ?? code) : (err as Error).message;
  return new PeftcError("output-write-failed", `cannot write ${path}: ${reason}`, { file: path });
}

/**
 * Writes `data` to `path` through a temp file in the same directory and a rename, so a reader
 * sees either the previous file or the complete new one, never a partial write. Signal listeners
 * cannot run during this synchronous write, so SIGINT or SIGTERM is handled after the rename.
 */
export function writeFileAtomic(requested: string, data: string | Uint8Array): void {
  const { path, direct } = outputTarget(requested);
  if (direct) {
    try {
      writeFileSync(path, data);
    } catch (err) {
      throw writeFailure(err, requested);
    }
    return;
  }
  const temp = tempPathFor(path);
  installSignalCleanup();
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
    throw writeFailure(err, requested);
  } finally {
    pendingTemps.delete(temp);
  }
}

/** Bytes written per call by writeFileAtomicAsync; signal listeners can run between calls. */
const WRITE_CHUNK_BYTES = 1 << 20;

/**
 * Writes `data` to `path` like writeFileAtomic, but in chunks with awaits between them. A SIGINT,
 * SIGTERM or SIGHUP that arrives before the rename then removes the temp file and stops the
 * process, so `path` keeps its previous content.
 */
export async function writeFileAtomicAsync(requested: string, data: string | Uint8Array): Promise<void> {
  const { path, direct } = outputTarget(requested);
  if (direct) {
    writeFileAtomic(requested, data);
    return;
  }
  const temp = tempPathFor(path);
  installSignalCleanup();
  pendingTemps.add(temp);
  try {
    const handle = await open(temp, "wx", 0o644);
    try {
      const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
      let offset = 0;
      while (offset < bytes.length) {
        const { bytesWritten } = await handle.write(bytes, offset, Math.min(WRITE_CHUNK_BYTES, bytes.length - offset));
        offset += bytesWritten;
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    rmSync(temp, { force: true });
    throw writeFailure(err, requested);
  } finally {
    pendingTemps.delete(temp);
  }
}
