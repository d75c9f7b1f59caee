// A node:test reporter that keeps only the run's summary (its closing diagnostics: tests,
// pass, fail, skipped...), one `name value` line each. scripts/test.mjs writes it to a file
// per Node version and prints one combined summary after the last run.
export default async function* summary(source) {
  for await (const event of source) {
    if (event.type === 'test:diagnostic' && event.data.nesting === 0 && /^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) /.test(event.data.message)) {
      yield `${event.data.message}\n`;
    }
  }
}
