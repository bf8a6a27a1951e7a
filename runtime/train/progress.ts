import type { StepReport } from "./trainer.js";

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

const BAR_WIDTH = 24;

/**
 * A training progress bar with step, loss and tokens/s. On a terminal it redraws one line in
 * place; elsewhere (a log file, CI) it prints a plain line about every 5% of the steps and at
 * the last step, so logs stay readable.
 */
export class ProgressBar {
  private readonly every: number;
  private drawn = false;

  constructor(private readonly stream: ProgressStream, totalSteps: number) {
    this.every = Math.max(1, Math.floor(totalSteps / 20));
  }

  update(report: StepReport): void {
    const { step, totalSteps, loss, tokensPerSecond } = report;
    const stats = `step ${step}/${totalSteps}  loss ${loss.toFixed(4)}  ${formatRate(tokensPerSecond)} tokens/s`;
    if (this.stream.isTTY === true) {
      const filled = Math.round((BAR_WIDTH * step) / totalSteps);
      const bar = "#".repeat(filled) + "-".repeat(BAR_WIDTH - filled);
      // \r returns to the line start and \x1b[K clears what a longer previous line left.
      this.stream.write(`\r[${bar}] ${stats}\x1b[K`);
      this.drawn = true;
    } else if (step % this.every === 0 || step === totalSteps || step === 1) {
      this.stream.write(`${stats}\n`);
    }
  }

  /** Ends the redrawn line, so the next output starts on a fresh line. */
  finish(): void {
    if (this.drawn) this.stream.write("\n");
    this.drawn = false;
  }
}

function formatRate(rate: number): string {
  return rate >= 100 ? Math.round(rate).toLocaleString("en-US") : rate.toFixed(1);
}
