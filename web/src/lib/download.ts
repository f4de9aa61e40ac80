// Saving output as a file: the exact bytes when the API sent them (base64), else the text.

export function bytesOf(text: string | undefined, base64: string | undefined): Uint8Array {
  if (base64 !== undefined) {
    const raw = atob(base64);
    const out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }
  return new TextEncoder().encode(text ?? "");
}

export function saveFile(name: string, data: Uint8Array): void {
  const blob = new Blob([data as BlobPart], { type: "application/octet-stream" });
  const href = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = href;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10_000);
}
