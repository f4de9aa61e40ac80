// The editor's files: one tab each, one of them the entry file the runtime runs. A lone file
// with the runtime's default name is sent as `script_content` (the one-file form); anything else
// as `files` with an `entrypoint`.

import { defaultFileName, newFileName } from "./languages";
import type { RunFields, SourceFile } from "./types";

export interface EditorFile {
  /** Stable across renames, so a tab and its editor keep their identity. */
  id: number;
  path: string;
  content: string;
  /** A file the API holds as base64 (not text): shown as such, sent back unchanged. */
  encoding: "utf8" | "base64";
}

let nextId = 1;

function file(path: string, content: string, encoding: "utf8" | "base64" = "utf8"): EditorFile {
  return { id: nextId++, path, content, encoding };
}

export class FileSet {
  files = $state<EditorFile[]>([]);
  activeId = $state(0);
  entryId = $state(0);

  constructor(language: string, content: string) {
    this.reset(language, content);
  }

  get active(): EditorFile | undefined {
    return this.files.find((f) => f.id === this.activeId) ?? this.files[0];
  }

  get entry(): EditorFile | undefined {
    return this.files.find((f) => f.id === this.entryId) ?? this.files[0];
  }

  reset(language: string, content: string): void {
    const only = file(defaultFileName(language), content);
    this.files = [only];
    this.activeId = only.id;
    this.entryId = only.id;
  }

  /** The files of a task or a one-shot run (`script_content` is one file of the default name). */
  load(language: string, source: { script_content?: string; files?: SourceFile[]; entrypoint?: string }): void {
    if (!source.files?.length) {
      this.reset(language, source.script_content ?? "");
      return;
    }
    this.files = source.files.map((f) => file(f.path, f.content, f.encoding ?? "utf8"));
    const entry = this.files.find((f) => f.path === source.entrypoint) ?? this.files[0];
    this.entryId = entry?.id ?? 0;
    this.activeId = this.entryId;
  }

  add(language: string): EditorFile {
    const added = file(newFileName(language, this.files.map((f) => f.path)), "");
    this.files.push(added);
    this.activeId = added.id;
    return added;
  }

  /** Rename a file; '' when done, else why not (an empty or taken name). */
  rename(id: number, path: string): string {
    const name = path.trim();
    if (!name) return "A file needs a name";
    if (this.files.some((f) => f.id !== id && f.path === name)) return `There is already a file named ${name}`;
    const target = this.files.find((f) => f.id === id);
    if (target) target.path = name;
    return "";
  }

  remove(id: number): void {
    if (this.files.length <= 1) return;
    const at = this.files.findIndex((f) => f.id === id);
    if (at < 0) return;
    this.files.splice(at, 1);
    const neighbour = this.files[Math.min(at, this.files.length - 1)];
    if (this.activeId === id) this.activeId = neighbour?.id ?? 0;
    if (this.entryId === id) this.entryId = this.files[0]?.id ?? 0;
  }

  /** Switching languages renames a lone default-named file (main.py → main.go). */
  retarget(from: string, to: string): void {
    const only = this.files.length === 1 ? this.files[0] : undefined;
    if (only && only.path === defaultFileName(from)) only.path = defaultFileName(to);
  }

  /** The program as the API takes it. */
  fields(language: string): Pick<RunFields, "script_content" | "files" | "entrypoint"> {
    const only = this.files.length === 1 ? this.files[0] : undefined;
    if (only && only.encoding === "utf8" && only.path === defaultFileName(language)) {
      return { script_content: only.content };
    }
    return {
      files: this.files.map((f) => ({ path: f.path, content: f.content, encoding: f.encoding })),
      entrypoint: this.entry?.path ?? "",
    };
  }
}
