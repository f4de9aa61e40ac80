import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vite";

// The gateway serves dist/ (services/gateway/.../ui.py) and replaces the nonce placeholder in
// index.html with a fresh nonce per response; CodeMirror's run-time style sheets carry it.
export default defineConfig({
  plugins: [svelte()],
  html: { cspNonce: "VOIDRUNNER_CSP_NONCE" },
  build: {
    target: "es2022",
    // No data: URIs: the page's CSP allows images and fonts from 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    // One bundle by design (about 170 kB gzipped); measured by bench/ui_bench.py.
    chunkSizeWarningLimit: 800,
  },
  server: { proxy: { "/api": "http://localhost:8080" } },
});
