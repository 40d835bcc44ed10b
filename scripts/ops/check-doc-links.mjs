#!/usr/bin/env node
/**
 * Checks the links of the documentation (README.md, CONTRIBUTING.md and every
 * Markdown file under docs/): every relative link must name a file or folder
 * that exists, and every `#anchor` must be a heading of the Markdown file it
 * points into. Links in code blocks and code spans are not links; http(s) and
 * mailto links are not followed.
 * Usage: node scripts/ops/check-doc-links.mjs [REPOSITORY_ROOT]
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { markdownAnchors } from './markdown-anchors.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The documentation files, relative to `repoRoot`. */
export function documentationFiles(repoRoot) {
  const files = ['README.md', 'CONTRIBUTING.md'].filter((file) => existsSync(join(repoRoot, file)));
  const walk = (folder) => {
    if (!existsSync(join(repoRoot, folder))) return;
    for (const entry of readdirSync(join(repoRoot, folder), { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) files.push(path);
    }
  };
  walk('docs');
  return files;
}

/** The link targets of a Markdown text, with their line numbers, outside code. */
export function markdownLinks(markdown) {
  const links = [];
  let fenced = false;
  markdown.split('\n').forEach((line, index) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return;
    }
    if (fenced || /^( {4}|\t)/.test(line)) return;
    const prose = line.replace(/(`+)[^`]*?\1/g, '');
    for (const match of prose.matchAll(/\]\(([^()\s]+)(?:\s+"[^"]*")?\)/g)) links.push({ target: match[1], line: index + 1 });
  });
  return links;
}

/** Every broken link of the documentation, as `file:line: message`. */
export function brokenDocLinks(repoRoot) {
  const problems = [];
  const anchorsOf = new Map();
  const anchorsIn = (file) => {
    if (!anchorsOf.has(file)) anchorsOf.set(file, markdownAnchors(readFileSync(file, 'utf8')));
    return anchorsOf.get(file);
  };
  for (const file of documentationFiles(repoRoot)) {
    const source = join(repoRoot, file);
    for (const { target, line } of markdownLinks(readFileSync(source, 'utf8'))) {
      if (/^(https?:|mailto:)/i.test(target)) continue;
      const [path, anchor] = target.split('#', 2);
      const resolved = path === '' ? source : resolve(dirname(source), decodeURI(path));
      const where = `${file}:${line}`;
      if (relative(repoRoot, resolved).startsWith('..')) problems.push(`${where}: ${target} points outside the repository`);
      else if (!existsSync(resolved)) problems.push(`${where}: ${target}: ${relative(repoRoot, resolved)} does not exist`);
      else if (anchor !== undefined) {
        if (!resolved.endsWith('.md') || statSync(resolved).isDirectory()) problems.push(`${where}: ${target}: an anchor into a file that is not Markdown`);
        else if (!anchorsIn(resolved).has(anchor)) problems.push(`${where}: ${target}: no heading #${anchor} in ${relative(repoRoot, resolved)}`);
      }
    }
  }
  return problems;
}

function main() {
  const repoRoot = process.argv[2] ? resolve(process.argv[2]) : root;
  const problems = brokenDocLinks(repoRoot);
  if (problems.length > 0) {
    console.error(problems.join('\n'));
    console.error(`${problems.length} broken link(s) in the documentation`);
    process.exit(1);
  }
  console.log(`${documentationFiles(repoRoot).length} documentation files: every relative link and anchor resolves`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
