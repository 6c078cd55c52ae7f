// A terminal screen redrawn in place: each frame goes to the top left and
// overwrites the last, line by line, cut to the terminal's width, so a frame
// never scrolls the one before away. The caller escapes what it shows.

const HOME = '\x1b[H';
const CLEAR_LINE = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';
const CLEAR_ALL = '\x1b[2J';

export class Screen {
  private drawn = false;

  constructor(private readonly out: NodeJS.WriteStream) {}

  draw(lines: string[]): void {
    const width = this.out.columns > 0 ? this.out.columns : 80;
    const body = lines.map((l) => (l.length > width ? l.slice(0, width) : l) + CLEAR_LINE).join('\n');
    this.out.write((this.drawn ? HOME : HOME + CLEAR_ALL) + body + '\n' + CLEAR_BELOW);
    this.drawn = true;
  }
}
