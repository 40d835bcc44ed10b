import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '../..');
const checker = path.join(root, 'scripts/ops/check-doc-links.mjs');

/** Runs the link check of scripts/ops/check.sh over a repository root. */
function checkLinks(repoRoot: string): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, [checker, repoRoot], { encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('documentation links (scripts/ops/check-doc-links.mjs)', () => {
  test('when README.md, CONTRIBUTING.md and docs/ link to a file or a heading, then it exists', () => {
    const { status, output } = checkLinks(root);
    expect(output).toMatch(/documentation files: every relative link and anchor resolves/);
    expect(status).toBe(0);
  });

  test('when a doc links to a missing file or heading, then the check names each and fails', () => {
    const repo = mkdtempSync(path.join(tmpdir(), 'tv-doc-links-'));
    try {
      mkdirSync(path.join(repo, 'docs'));
      writeFileSync(path.join(repo, 'README.md'), '# Title\n\nSee [api](docs/api.md#errors), [gone](docs/gone.md) and `[code](not/a/link.md)`.\n');
      writeFileSync(path.join(repo, 'docs/api.md'), '# The API\n\n## Rate limits\n\nBack to [the title](../README.md#title) and [limits](#rate-limits).\n');
      const { status, output } = checkLinks(repo);
      expect(output).toContain('README.md:3: docs/api.md#errors: no heading #errors in docs/api.md');
      expect(output).toContain('README.md:3: docs/gone.md: docs/gone.md does not exist');
      expect(output).toContain('2 broken link(s)');
      expect(status).toBe(1);
    } finally {
      rmSync(repo, { recursive: true, force: true });
    }
  });
});
