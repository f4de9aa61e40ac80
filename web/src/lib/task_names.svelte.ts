// The names of tasks that lists of executions show beside each run. The API's executions carry
// a task id, not its name, and every task read counts against the user's task-call quota, so:
// one list call of the recently changed tasks on each visit of the list, and only the ids it
// did not name are read one by one, each once per page load (deduplicated, a few at a time).
// A rename changes a task's updated_at, which puts it in the next visit's list call, so the
// names read once do not go stale. A task that is gone (404) stays known as gone; a read that
// failed otherwise is tried again by the next page of runs that needs it.

import { SvelteMap } from "svelte/reactivity";
import * as api from "./api";
import { shortId } from "./format";
import { session } from "./session.svelte";

/** The tasks the one list call names: the API's largest page. */
const LISTED = 100;
/** Reads of single tasks at once: a page of runs asks at most its page size. */
const CONCURRENT = 4;

/** A task's name, or null when the task is gone. */
type Known = string | null;

class TaskNames {
  // Reactive so that a row re-renders when its task's name arrives.
  readonly #known = new SvelteMap<string, Known>();
  readonly #asked = new Set<string>();
  readonly #queue: string[] = [];
  #active = 0;
  #listed: Promise<void> | null = null;
  #owner: string | null = null;

  /** What a row shows for its task: the name, "deleted task", or its short id until known. */
  label(taskId: string): string {
    const known = this.#known.get(taskId);
    if (known === undefined) return `task ${shortId(taskId)}`;
    return known ?? "deleted task";
  }

  /** True once the task is known to be gone. */
  gone(taskId: string): boolean {
    return this.#known.get(taskId) === null;
  }

  /** Start the list call of the recently changed tasks (a visit of a list of runs). */
  refresh(): void {
    this.#sameUser();
    this.#listed = this.#list();
  }

  /** Learn the names of `taskIds` that are not known yet. */
  async resolve(taskIds: Iterable<string>): Promise<void> {
    this.#sameUser();
    const owner = this.#owner;
    this.#listed ??= this.#list();
    await this.#listed;
    if (owner !== this.#owner) return;
    for (const id of new Set(taskIds)) {
      if (this.#known.has(id) || this.#asked.has(id)) continue;
      this.#asked.add(id);
      this.#queue.push(id);
    }
    this.#pump(owner);
  }

  /** A cache of one user's tasks is no answer for the next one signed in on this page. */
  #sameUser(): void {
    const user = session.user?.id ?? null;
    if (user === this.#owner) return;
    this.#owner = user;
    this.#known.clear();
    this.#asked.clear();
    this.#queue.length = 0;
    this.#listed = null;
  }

  async #list(): Promise<void> {
    const owner = this.#owner;
    try {
      const page = await api.listTasks({ limit: LISTED, sort_field: "updated_at" });
      if (owner !== this.#owner) return;
      for (const t of page.tasks) this.#known.set(t.id, t.name);
    } catch {
      // The single reads below name the rows all the same.
    }
  }

  #pump(owner: string | null): void {
    while (this.#active < CONCURRENT && this.#queue.length > 0) {
      const id = this.#queue.shift();
      if (id === undefined) break;
      this.#active++;
      void this.#read(id, owner).finally(() => {
        this.#active--;
        this.#pump(this.#owner);
      });
    }
  }

  async #read(id: string, owner: string | null): Promise<void> {
    try {
      const task = await api.getTask(id);
      if (owner === this.#owner) this.#known.set(id, task.name);
    } catch (error) {
      if (owner !== this.#owner) return;
      if (api.isNotFound(error)) this.#known.set(id, null);
      else this.#asked.delete(id);
    }
  }
}

export const taskNames = new TaskNames();
