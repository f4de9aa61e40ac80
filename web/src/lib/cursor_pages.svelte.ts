// Paging a list by the API's cursors: the API only goes forward (next_cursor), so the cursors of
// the pages already passed are kept here for "Previous page".

export class CursorPages {
  /** The next page's cursor, when the API says there is one. */
  next = $state<string | undefined>(undefined);
  /** The cursors of the pages before this one ("" for the first). */
  previous = $state<string[]>([]);

  /** Back to the first page (new filters). */
  reset(): void {
    this.previous = [];
  }

  /** The cursor to go forward to, remembering `current` (this page's, null on the first). */
  forward(current: string | null): string | undefined {
    this.previous = [...this.previous, current ?? ""];
    return this.next;
  }

  /** The cursor of the page before this one (undefined for the first). */
  back(): string | undefined {
    const cursor = this.previous[this.previous.length - 1];
    this.previous = this.previous.slice(0, -1);
    return cursor || undefined;
  }
}
