// Text from Zammad, Kimai or a form may carry bidirectional controls: an
// override (U+202E) makes "gpj.exe" read as "exe.jpg", an unclosed one
// reorders the text after it. Shown text keeps them visible as ⟪U+202E⟫
// instead, and <Plain> isolates it from its surroundings (<bdi>).
const bidiControls = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function plain(s: string | null | undefined): string {
  return (s ?? "").replace(bidiControls, (c) => `⟪U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}⟫`);
}

export function Plain({ text }: { text: string | null | undefined }) {
  return <bdi>{plain(text)}</bdi>;
}
