// The page's CSP nonce (the gateway writes a fresh one into every index.html it serves), for
// the style sheets CodeMirror creates at run time. Browsers hide a nonce attribute from
// getAttribute once the page has a CSP; the `nonce` property still holds it.

export function cspNonce(): string {
  const meta = document.querySelector<HTMLMetaElement>('meta[property="csp-nonce"]');
  return meta?.nonce || meta?.getAttribute("nonce") || "";
}
