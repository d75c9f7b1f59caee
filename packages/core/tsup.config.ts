import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/testing/index.ts'],
  format: ['esm', 'cjs'],
  // stripInternal: members marked @internal are ferrite's own plumbing, not API.
  dts: { compilerOptions: { stripInternal: true } },
  sourcemap: true,
  clean: true,
  target: 'node20',
  outDir: 'dist',
  // Keep `node:` in imports: without it `node:test` becomes "test", which is not a builtin.
  removeNodeProtocol: false,
});
