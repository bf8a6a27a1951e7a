import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { PeftcError } from "../errors.js";

/** Largest JSON file the importer reads (config files, index files, graph exports). */
export const MAX_JSON_BYTES = 1 << 30;

/** Turns a failed `fs` call into a one-line PeftcError naming the file. */
export function fsError(err: unknown, path: string, what: string): PeftcError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return new PeftcError("file-not-found", `${what} not found; check the path`, { file: path });
  if (code === "ELOOP") {
    return new PeftcError("symlink-loop", `${what} is a symbolic link that loops back on itself; point it at a real file`, { file: path });
  }
  if (code === "EACCES" || code === "EPERM") return new PeftcError("file-unreadable", `${what} is not readable (permission denied)`, { file: path });
  return new PeftcError("file-unreadable", `cannot read ${what}: ${code ?? (err as Error).message}`, { file: path });
}

/** Reads a whole text file, refusing files over `maxBytes` before reading them. */
export function readTextFile(path: string, what: string, maxBytes = MAX_JSON_BYTES): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw fsError(err, path, what);
  }
  try {
    const size = fstatSync(fd).size;
    if (size > maxBytes) {
      throw new PeftcError("file-too-large", `${what} is ${size} bytes, over the ${maxBytes}-byte limit`, { file: path });
    }
    const buffer = Buffer.alloc(size);
    let done = 0;
    while (done < size) {
      const n = readSync(fd, buffer, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    return buffer.toString("utf8", 0, done);
  } catch (err) {
    if (err instanceof PeftcError) throw err;
    throw fsError(err, path, what);
  } finally {
    closeSync(fd);
  }
}

/** 1-based line and column of character `offset` in `text`. */
export function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, col: offset - lineStart + 1 };
}

/** Parses JSON text; a syntax error becomes an `invalid-json` PeftcError at its line and column. */
export function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message;
    let where: { line: number; col: number } | undefined;
    const lc = /line (\d+) column (\d+)/.exec(message);
    const pos = /position (\d+)/.exec(message);
    if (lc) where = { line: Number(lc[1]), col: Number(lc[2]) };
    else if (pos) where = lineCol(text, Number(pos[1]));
    else if (/end of JSON input|Unterminated/.test(message)) where = lineCol(text, text.length);
    const reason = message.replace(/ in JSON at position \d+.*$/, "").replace(/\s*\(line \d+ column \d+\)$/, "");
    throw new PeftcError("invalid-json", `invalid JSON: ${reason}`, { file: path, ...where });
  }
}

/** Reads and parses a JSON file with a size limit. */
export function readJsonFile(path: string, what: string): unknown {
  return parseJson(readTextFile(path, what), path);
}
