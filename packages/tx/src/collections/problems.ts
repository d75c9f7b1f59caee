/**
 * Runs a collection's validation walk and returns the problems it found. A throw (damage the
 * walk cannot get past, such as an offset outside the pool) becomes one more problem instead
 * of escaping: `validate()` reports, it never throws.
 */
export function collectProblems(walk: (problems: string[]) => void): string[] {
  const problems: string[] = [];
  try {
    walk(problems);
  } catch (err) {
    problems.push(`validation stopped: ${err instanceof Error ? err.message : String(err)}`);
  }
  return problems;
}
