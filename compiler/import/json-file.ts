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

/**
 * Offset of the first syntax error in `text`, found by a small JSON scanner. V8's messages carry
 * a position for some errors only, so the error path scans the text itself.
 */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && (text[i] === " " || text[i] === "\t" || text[i] === "\n" || text[i] === "\r")) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const string = (): void => {
    if (text[i] !== '"') fail();
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) fail();
      if (text[i] === "\\") {
        i++;
        if (text[i] === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) fail();
          i += 4;
        } else if (!'"\\/bfnrt'.includes(text[i] ?? "x")) fail();
      }
      i++;
    }
    if (i >= text.length) fail();
    i++;
  };
  const value = (): void => {
    ws();
    const ch = text[i];
    if (ch === "{") {
      i++;
      ws();
      if (text[i] === "}") {
        i++;
        return;
      }
      for (;;) {
        ws();
        string();
        ws();
        if (text[i] !== ":") fail();
        i++;
        value();
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "}") {
          i++;
          return;
        }
        fail();
      }
    }
    if (ch === "[") {
      i++;
      ws();
      if (text[i] === "]") {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ",") {
          i++;
          continue;
        }
        if (text[i] === "]") {
          i++;
          return;
        }
        fail();
      }
    }
    if (ch === '"') return string();
    const literal = /^(true|false|null|-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (literal === null) fail();
    i += literal![0].length;
  };
  try {
    value();
    ws();
    return i < text.length ? i : -1;
  } catch (offset) {
    if (typeof offset === "number") return offset;
    throw offset;
  }
}

/** Parses JSON text; a syntax error becomes an `invalid-json` PeftcError at its line and column. */
export function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const offset = jsonErrorOffset(text);
    const where = offset >= 0 ? lineCol(text, offset) : {};
    const found = offset >= text.length ? "unexpected end of input" : offset >= 0 ? `unexpected ${JSON.stringify(text[offset])}` : (err as Error).message;
    throw new PeftcError("invalid-json", `invalid JSON: ${found}; fix the syntax at this position`, { file: path, ...where });
  }
}

/** Reads and parses a JSON file with a size limit. */
export function readJsonFile(path: string, what: string): unknown {
  return parseJson(readTextFile(path, what), path);
}
