/**
 * The anchors GitHub gives a Markdown file's headings: lower case, spaces to
 * hyphens, punctuation other than hyphens and underscores dropped, and
 * "-1", "-2"... appended to repeats. Headings inside code fences are skipped.
 * @param {string} markdown
 * @returns {Set<string>}
 */
export function markdownAnchors(markdown) {
  const anchors = new Set();
  const counts = new Map();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const heading = fenced ? undefined : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = heading
      .toLowerCase()
      .replace(/`/g, '')
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = counts.get(base) ?? 0;
    counts.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}
