// Syntax highlighting per runtime language, and the code a new editor starts with.

import { StreamLanguage } from "@codemirror/language";
import type { Extension } from "@codemirror/state";

/**
 * Highlighting for `language`, loaded when first wanted: each grammar is a chunk of its own,
 * so the page starts without the ones it does not show.
 */
export async function languageSupport(language: string): Promise<Extension> {
  switch (language) {
    case "python":
      return (await import("@codemirror/lang-python")).python();
    case "javascript":
    case "node":
      return (await import("@codemirror/lang-javascript")).javascript();
    case "typescript":
      return (await import("@codemirror/lang-javascript")).javascript({ typescript: true });
    case "c":
      return StreamLanguage.define((await import("@codemirror/legacy-modes/mode/clike")).c);
    case "cpp":
      return StreamLanguage.define((await import("@codemirror/legacy-modes/mode/clike")).cpp);
    case "java":
      return StreamLanguage.define((await import("@codemirror/legacy-modes/mode/clike")).java);
    case "ruby":
      return StreamLanguage.define((await import("@codemirror/legacy-modes/mode/ruby")).ruby);
    case "rust":
      return StreamLanguage.define((await import("@codemirror/legacy-modes/mode/rust")).rust);
    case "go":
      return (await import("@codemirror/lang-go")).go();
    case "bash":
    case "shell":
    case "sh":
      return StreamLanguage.define((await import("@codemirror/legacy-modes/mode/shell")).shell);
    default:
      return []; // an operator's runtime we know no grammar for: plain text
  }
}

const STARTERS: Record<string, string> = {
  python: 'import sys\n\nname = sys.stdin.read().strip() or "world"\nprint(f"Hello, {name}!")\n',
  javascript:
    'const input = require("fs").readFileSync(0, "utf8").trim();\nconsole.log(`Hello, ${input || "world"}!`);\n',
  bash: 'read -r name || true\necho "Hello, ${name:-world}!"\n',
  go: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("Hello, world!")\n}\n',
  typescript:
    'const input: string = require("fs").readFileSync(0, "utf8").trim();\nconsole.log(`Hello, ${input || "world"}!`);\n',
  ruby: 'name = $stdin.read.strip\nputs "Hello, #{name.empty? ? "world" : name}!"\n',
  c: '#include <stdio.h>\n\nint main(void) {\n    printf("Hello, world!\\n");\n    return 0;\n}\n',
  cpp: '#include <iostream>\n\nint main() {\n    std::cout << "Hello, world!" << std::endl;\n}\n',
  rust: 'fn main() {\n    println!("Hello, world!");\n}\n',
  java: 'public class Main {\n    public static void main(String[] args) {\n        System.out.println("Hello, world!");\n    }\n}\n',
};

export function starter(language: string): string {
  return STARTERS[language] ?? "";
}

// The file a one-file program is saved as (the runtime's own source_file): a lone file of that
// name travels as `script_content`, anything else as `files`.
const EXTENSIONS: Record<string, string> = {
  python: "py",
  javascript: "js",
  typescript: "ts",
  bash: "sh",
  go: "go",
  c: "c",
  cpp: "cpp",
  ruby: "rb",
  rust: "rs",
  java: "java",
};

export function defaultFileName(language: string): string {
  if (language === "java") return "Main.java"; // java runs the entry file's class
  const ext = EXTENSIONS[language];
  return ext ? `main.${ext}` : "main";
}

/** The language to highlight a file in: by its extension, else the runtime's. */
export function languageOfFile(path: string, runtimeLanguage: string): string {
  const ext = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase();
  if (!ext) return runtimeLanguage;
  const found = Object.entries(EXTENSIONS).find(([, e]) => e === ext)?.[0];
  if (found) return found;
  // Data files (input.txt, notes.md) are plain text.
  return ext === "txt" || ext === "md" || ext === "csv" || ext === "json" ? "" : runtimeLanguage;
}

/** The name a new file gets: `helper.<ext>`, then helper2, helper3… */
export function newFileName(language: string, taken: readonly string[]): string {
  const ext = EXTENSIONS[language];
  for (let n = 1; ; n++) {
    const name = `helper${n === 1 ? "" : n}${ext ? `.${ext}` : ""}`;
    if (!taken.includes(name)) return name;
  }
}

// The rule the API applies to file paths (voidrunner.contracts.files), so a tab can say at once
// why a name will be refused; the API stays the judge.
const COMPONENT = /^[A-Za-z0-9._+@=,][A-Za-z0-9._+@=,-]*$/;

export function pathProblem(path: string): string {
  if (!path || path.length > 255) return "must be 1 to 255 characters";
  if (path.startsWith("/")) return "must be relative";
  const parts = path.split("/");
  if (parts.length > 16) return "must be at most 16 directories deep";
  for (const part of parts) {
    if (part === "" || part === "." || part === "..") return "must be normalised (no empty, '.' or '..' parts)";
    if (!COMPONENT.test(part)) return "may hold only letters, digits and ._-+@=, (not starting with -)";
  }
  return "";
}
