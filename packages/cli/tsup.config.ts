import { defineConfig } from 'tsup';

export default defineConfig({
  // index: the library face (`main` and the report functions); cli: what bin/ferrite.mjs
  // imports. The CJS build of cli.ts is never run as a program (it checks import.meta).
  entry: ['src/index.ts', 'src/cli.ts'],
  format: ['esm', 'cjs'],
  dts: { entry: 'src/index.ts' },
  sourcemap: true,
  clean: true,
  target: 'node20',
  outDir: 'dist',
});
