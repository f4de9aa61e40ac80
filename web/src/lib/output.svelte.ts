// What the output view shows: stdout and stderr interleaved in the order they were produced,
// as text. Control characters are shown as their visible symbols (ESC as ␛), so ANSI escape
// sequences appear literally instead of being hidden; HTML is text like everything else.

import type { StreamName } from "./types";

// The view keeps at most this much text; the whole output stays downloadable.
export const MAX_VIEW_CHARS = 1_000_000;

export interface Segment {
  /** `mark`: a line of the UI's own (where a test case starts), not the program's. */
  stream: StreamName | "mark";
  text: string;
}

// C0 controls except tab and newline, and DEL, as Unicode's control pictures (U+2400...).
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

export function visible(text: string): string {
  return text
    .replace(/\r\n/g, "\n")
    .replace(CONTROLS, (c) => String.fromCharCode(c === "\u007f" ? 0x2421 : 0x2400 + c.charCodeAt(0)));
}

export class OutputView {
  segments = $state<Segment[]>([]);
  size = $state(0);
  clipped = $state(false);

  clear(): void {
    this.segments = [];
    this.size = 0;
    this.clipped = false;
  }

  append(stream: StreamName, raw: string): void {
    if (this.clipped || raw === "") return;
    let text = visible(raw);
    if (this.size + text.length > MAX_VIEW_CHARS) {
      text = text.slice(0, MAX_VIEW_CHARS - this.size);
      this.clipped = true;
    }
    this.size += text.length;
    const last = this.segments[this.segments.length - 1];
    if (last && last.stream === stream) last.text += text;
    else this.segments.push({ stream, text });
  }

  /** A heading line between the program's output, e.g. where a test case's output begins. */
  mark(text: string): void {
    if (this.clipped) return;
    const last = this.segments[this.segments.length - 1];
    const line = `${last && !last.text.endsWith("\n") ? "\n" : ""}${visible(text)}\n`;
    this.size += line.length;
    this.segments.push({ stream: "mark", text: line });
  }

  get empty(): boolean {
    return this.segments.length === 0;
  }
}
