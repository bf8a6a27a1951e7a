/** Text, markdown and JSON output of `peftc diff`. Every form starts with the summary line. */
import { describeDiff, type Block, type Inline, type Mark } from "./describe.js";
import { MINUS } from "./format.js";
import type { PlanDiff } from "./types.js";

export const DIFF_FORMATS = ["text", "markdown", "json"] as const;
export type DiffFormat = (typeof DIFF_FORMATS)[number];

export interface RenderOptions {
  /** ANSI colours in the text form. Default: false. The markdown and JSON forms never use colour. */
  color?: boolean;
}

/**
 * Renders a diff, ending with a newline. Identical plans give only the summary line `no changes` in
 * the text and markdown forms. The JSON form is always the whole `peftc-diff/1` document.
 */
export function renderDiff(diff: PlanDiff, format: DiffFormat, options: RenderOptions = {}): string {
  switch (format) {
    case "text":
      return renderText(diff, options.color ?? false);
    case "markdown":
      return renderMarkdown(diff);
    case "json":
      return JSON.stringify(diff, null, 2) + "\n";
  }
}

/**
 * Decides whether text output to `stream` gets colour: only on a terminal, and never when `NO_COLOR`
 * is set to a non-empty value (https://no-color.org).
 */
export function shouldColor(stream: { isTTY?: boolean }, env: Record<string, string | undefined>): boolean {
  const noColor = env["NO_COLOR"];
  if (noColor !== undefined && noColor !== "") return false;
  return stream.isTTY === true;
}

// Text

const ANSI = { bold: "1", red: "31", green: "32", yellow: "33", dim: "2" } as const;

function renderText(diff: PlanDiff, color: boolean): string {
  const paint = (code: string, s: string): string => (color ? `\u001b[${code}m${s}\u001b[0m` : s);
  const markColor: Record<Mark, string> = { "+": ANSI.green, "-": ANSI.red, "~": ANSI.yellow };
  const lines = [paint(ANSI.bold, diff.summary_line)];

  for (const section of describeDiff(diff)) {
    lines.push("", paint(ANSI.bold, plainText(section.heading)));
    for (const block of section.blocks) {
      lines.push(`  ${paint(markColor[block.mark], markSymbol(block.mark))} ${plainText(block.title)}`);
      for (const group of block.modules) {
        const count = group.count > 1 ? paint(ANSI.dim, `  (${group.count} modules)`) : "";
        lines.push(`      ${group.pattern}${count}`);
      }
    }
  }
  return lines.join("\n") + "\n";
}

function markSymbol(mark: Mark): string {
  return mark === "-" ? MINUS : mark;
}

function plainText(inlines: Inline[]): string {
  return inlines.map((part) => (typeof part === "string" ? part : part.code)).join("");
}

// Markdown

/**
 * Renders the summary line, then one collapsible `<details>` section per changed part (model,
 * adapters, diagnostics), for a pull-request comment.
 */
function renderMarkdown(diff: PlanDiff): string {
  // The summary line is built from fixed words and numbers only, so it needs no escaping.
  const out: string[] = [diff.summary_line];
  for (const section of describeDiff(diff)) {
    out.push("", `<details><summary>${htmlInline(section.heading)}</summary>`, "");
    for (const block of section.blocks) out.push(...markdownBlock(block));
    out.push("", "</details>");
  }
  return out.join("\n") + "\n";
}

function markdownBlock(block: Block): string[] {
  const lines = [`- **${markSymbol(block.mark)}** ${markdownInline(block.title)}`];
  for (const group of block.modules) {
    const count = group.count > 1 ? ` (${group.count} modules)` : "";
    lines.push(`  - ${codeSpan(group.pattern)}${count}`);
  }
  return lines;
}

function markdownInline(inlines: Inline[]): string {
  return inlines.map((part) => (typeof part === "string" ? escapeMarkdown(part) : codeSpan(part.code))).join("");
}

/** Inside `<summary>` GitHub renders HTML, not markdown. */
function htmlInline(inlines: Inline[]): string {
  return inlines.map((part) => (typeof part === "string" ? escapeHtml(part) : `<code>${escapeHtml(part.code)}</code>`)).join("");
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Backslash-escapes the characters that could start markdown or HTML markup in a diagnostic message. */
function escapeMarkdown(s: string): string {
  return s.replace(/[\\`*_[\]<>|~]/g, (c) => `\\${c}`);
}

/** Wraps `s` in a code span whose backtick fence is longer than any backtick run inside it. */
function codeSpan(s: string): string {
  const longestRun = Math.max(0, ...(s.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(longestRun + 1);
  const pad = s.startsWith("`") || s.endsWith("`") ? " " : "";
  return `${fence}${pad}${s}${pad}${fence}`;
}
