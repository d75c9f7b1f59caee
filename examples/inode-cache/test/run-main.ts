/**
 * Runs the CLI's `main` in this process, capturing what it prints, with the exit code and
 * message it would give as a process (`describeError`). Far cheaper than a child process;
 * tests keep a few real processes for what only a process shows (exit status, SIGKILL, uid).
 */
import { describeError, main } from '../src/cli.js';

export interface MainRun {
  status: number;
  stdout: string;
  stderr: string;
}

export async function runMain(args: string[]): Promise<MainRun> {
  let stdout = '';
  let stderr = '';
  const realOut = process.stdout.write;
  const realErr = process.stderr.write;
  const backend = process.env.INODE_CACHE_BACKEND;
  delete process.env.INODE_CACHE_BACKEND;
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
  try {
    const status = await main(args);
    return { status, stdout, stderr };
  } catch (err) {
    const { message, code } = describeError(err);
    return { status: code, stdout, stderr: `${stderr}inode-cache: ${message}\n` };
  } finally {
    process.stdout.write = realOut;
    process.stderr.write = realErr;
    if (backend !== undefined) process.env.INODE_CACHE_BACKEND = backend;
  }
}
