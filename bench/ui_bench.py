"""The web UI's figures, measured (not asserted): the bundle's gzip size, and the time from
pressing Run to the first output line in the browser for hello-world python.

    .venv/bin/python -m bench.ui_bench [--runs 15]

Needs `make web` (the bundle) and Debian's chromium-headless-shell (or chromium). Starts the
stack as `make run` does (bench/_stack.py) on free ports, signs up in headless Chromium and
presses Run `--runs` times. Each time is taken inside the page (performance.now at the click
and when the first line shows), so the driver's own overhead is not in it. A run is what the
editor does: save the task (PUT), start an execution, open the log stream, show the chunk.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import shutil
import statistics
import uuid
from pathlib import Path

from playwright.async_api import async_playwright

from bench._stack import Stack

DIST = Path(__file__).resolve().parents[1] / "web" / "dist"
HELLO = 'print("Hello, VoidRunner!")\n'
CLICK_TO_FIRST_LINE = """() => new Promise((resolve) => {
  const output = document.querySelector("[data-testid=output]");
  const started = performance.now();
  const seen = new MutationObserver(() => {
    if (output.textContent.includes("Hello, VoidRunner!")) {
      seen.disconnect();
      resolve(performance.now() - started);
    }
  });
  seen.observe(output, {childList: true, subtree: true, characterData: true});
  document.querySelector("[data-testid=run]").click();
})"""


def bundle_sizes() -> dict[str, int]:
    """gzip (level 9) bytes of what a page loads first (the scripts and style sheets that
    index.html names) and of all scripts and styles (the language grammars load on demand)."""
    index = DIST / "index.html"
    if not index.is_file():
        msg = "no bundle in web/dist: run `make web` first"
        raise SystemExit(msg)
    files = [*DIST.glob("assets/*.js"), *DIST.glob("assets/*.css")]
    page = index.read_text()
    first = [f for f in files if f"/assets/{f.name}" in page]

    def packed(group: list[Path]) -> int:
        return sum(len(gzip.compress(f.read_bytes(), compresslevel=9)) for f in group)

    return {
        "first_files": len(first),
        "first_gzip": packed(first),
        "all_files": len(files),
        "all_gzip": packed(files),
        "all_raw": sum(f.stat().st_size for f in files),
    }


async def run_to_first_line(base_url: str, runs: int) -> list[float]:
    chromium = shutil.which("chromium-headless-shell") or shutil.which("chromium")
    if chromium is None:
        msg = "needs the Debian package chromium-headless-shell"
        raise SystemExit(msg)
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = await browser.new_page()
            await page.goto(f"{base_url}/signup")
            await page.get_by_label("Name", exact=True).fill("Bench")
            await page.get_by_label("Email").fill(f"bench-{uuid.uuid4().hex[:8]}@example.com")
            await page.get_by_label("Password").fill("Sup3r-secret!")
            await page.get_by_role("button", name="Create account").click()
            await page.get_by_test_id("run").wait_for()
            await page.evaluate(
                """code => {
                    const view = document.querySelector(".cm-content").cmTile.root.view;
                    view.dispatch({changes: {from: 0, to: view.state.doc.length, insert: code}});
                }""",
                HELLO,
            )
            times: list[float] = []
            for _ in range(runs + 2):  # the first two warm up the executor and the page
                times.append(await page.evaluate(CLICK_TO_FIRST_LINE))
                await page.locator("[data-testid=status-line][data-phase=final]").wait_for()
            return times[2:]
        finally:
            await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    sizes = bundle_sizes()
    print(
        f"bundle loaded first: {sizes['first_files']} files, "
        f"{sizes['first_gzip'] / 1024:.1f} KiB gzip; all {sizes['all_files']} files "
        f"(grammars on demand): {sizes['all_gzip'] / 1024:.1f} KiB gzip, "
        f"{sizes['all_raw'] / 1024:.1f} KiB raw"
    )
    with Stack() as stack:
        times = asyncio.run(run_to_first_line(stack.base_url, args.runs))
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    print(
        f"Run to first output line (hello-world python, {len(times)} runs): "
        f"median {statistics.median(times):.0f} ms, p90 {p90:.0f} ms, "
        f"min {ordered[0]:.0f} ms, max {ordered[-1]:.0f} ms"
    )


if __name__ == "__main__":
    main()
