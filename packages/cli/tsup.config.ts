import { defineConfig } from 'tsup';

export default defineConfig({
  // index: the library face (`main` and the report functions); cli: what bin/ferrite.mjs
  // imports. The CJS build of cli.ts is never run as a program (it checks import.meta).
  entry: ['src/index.ts', 'src/cli.ts'],
  format: ['esm', 'cjs'],
  // stripInternal: members marked @internal are ferrite's own plumbing, not API.
  dts: { entry: 'src/index.ts', compilerOptions: { stripInternal: true } },
  sourcemap: true,
  clean: true,
  target: 'node20',
  outDir: 'dist',
  // Keep `node:` in imports: without it `node:test` becomes "test", which is not a builtin.
  removeNodeProtocol: false,
});
