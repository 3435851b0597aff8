// The few lines at the bottom of a terminal that are redrawn in place, with lines
// printed for good above them (log-update's technique, without its dependency):
// erase what was drawn, write the new lines, draw the live ones again, all in one
// write so the terminal never shows a half-drawn frame.

const eraseFrom = (lines: number) => (lines > 0 ? `\u001b[${lines}F\u001b[0J` : '');

export class LiveArea {
  private drawn: readonly string[] = [];

  /** `columns`: the terminal's width; a live line is cut to fit, since a wrapped line would not be erased. */
  constructor(
    private readonly write: (text: string) => void,
    private readonly columns: number,
  ) {}

  /** Prints `lines` for good above the live lines, which are drawn again under them. */
  print(lines: readonly string[]): void {
    if (lines.length === 0) return;
    this.write(
      `${eraseFrom(this.drawn.length)}${lines.map((line) => `${line}\n`).join('')}${this.text(this.drawn)}`,
    );
  }

  /** Redraws the live lines; nothing is written when they read as before. */
  draw(lines: readonly string[]): void {
    const fitted = lines.map((line) => this.fit(line));
    if (fitted.length === this.drawn.length && fitted.every((line, i) => line === this.drawn[i])) return;
    this.write(`${eraseFrom(this.drawn.length)}${this.text(fitted)}`);
    this.drawn = fitted;
  }

  /** Erases the live lines, leaving what was printed. */
  clear(): void {
    if (this.drawn.length > 0) this.write(eraseFrom(this.drawn.length));
    this.drawn = [];
  }

  private fit(line: string): string {
    const room = Math.max(10, this.columns - 1);
    return line.length <= room ? line : `${line.slice(0, room - 1)}…`;
  }

  private text(lines: readonly string[]): string {
    return lines.map((line) => `${line}\n`).join('');
  }
}
