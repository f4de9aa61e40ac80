// A small history router: the gateway serves the app at every path outside the API's, and the
// app decides here which page a path is. Pages of later features (API keys, webhooks, shares,
// the ops page) add a line to ROUTES and a page component.

export type RouteName =
  | "editor"
  | "editor-task"
  | "signin"
  | "signup"
  | "tasks"
  | "task"
  | "execution"
  | "executions"
  | "keys"
  | "webhooks"
  | "webhook"
  | "ops"
  | "not-found";

export interface Route {
  name: RouteName;
  params: string[];
  query: URLSearchParams;
  path: string;
}

const ROUTES: [RouteName, RegExp][] = [
  ["editor", /^\/$/],
  ["editor-task", /^\/editor\/([^/]+)$/],
  ["signin", /^\/signin$/],
  ["signup", /^\/signup$/],
  ["tasks", /^\/tasks$/],
  ["task", /^\/tasks\/([^/]+)$/],
  ["execution", /^\/executions\/([^/]+)$/],
  ["executions", /^\/executions$/],
  ["keys", /^\/keys$/],
  ["webhooks", /^\/webhooks$/],
  ["webhook", /^\/webhooks\/([^/]+)$/],
  ["ops", /^\/ops$/],
];

/** Pages anyone may see; all others need a session. */
export const PUBLIC: readonly RouteName[] = ["signin", "signup", "not-found"];

function resolve(): Route {
  const path = location.pathname;
  const query = new URLSearchParams(location.search);
  for (const [name, pattern] of ROUTES) {
    const found = pattern.exec(path);
    if (found) return { name, params: found.slice(1).map(decodeURIComponent), query, path };
  }
  return { name: "not-found", params: [], query, path };
}

export const router = $state<{ route: Route }>({ route: resolve() });

export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === location.pathname + location.search) return;
  if (options.replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  router.route = resolve();
  window.scrollTo(0, 0);
}

/** The current path and query, to come back to after signing in. */
export function here(): string {
  return location.pathname + location.search;
}

export function startRouter(): void {
  window.addEventListener("popstate", () => {
    router.route = resolve();
  });
  // Same-origin links move within the app; new tabs, downloads and /docs stay the browser's.
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const link = (event.target as Element | null)?.closest?.("a");
    if (!link || link.target || link.hasAttribute("download")) return;
    // eslint-disable-next-line svelte/prefer-svelte-reactivity -- read once, never state
    const target = new URL(link.href, location.href);
    if (target.origin !== location.origin) return;
    if (/^\/(api|docs|openapi\.json|health|ready|metrics)(\/|$)/.test(target.pathname)) return;
    event.preventDefault();
    navigate(target.pathname + target.search);
  });
}
