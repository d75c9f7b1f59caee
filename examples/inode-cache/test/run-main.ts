/**
 * Runs the CLI's `main` in this process with streams that capture what it prints, and the
 * exit code and message it would give as a process (`describeError`). Far cheaper than a
 * child process; tests keep real processes for what only a process shows (exit status,
 * SIGKILL, another uid). The process's own stdout is never touched: the test runner reports
 * through it.
 */
import { Writable } from 'node:stream';
import { describeError, main } from '../src/cli.js';

export interface MainRun {
  status: number;
  stdout: string;
  stderr: string;
}

function capture(): { stream: Writable & { isTTY: boolean }; text: () => string } {
  let text = '';
  const stream = Object.assign(new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      text += String(chunk);
      cb();
    },
  }), { isTTY: false });
  return { stream, text: () => text };
}

export async function runMain(args: string[]): Promise<MainRun> {
  const stdout = capture();
  const stderr = capture();
  const backend = process.env.INODE_CACHE_BACKEND;
  delete process.env.INODE_CACHE_BACKEND;
  try {
    const status = await main(args, { stdout: stdout.stream, stderr: stderr.stream });
    return { status, stdout: stdout.text(), stderr: stderr.text() };
  } catch (err) {
    const { message, code } = describeError(err);
    return { status: code, stdout: stdout.text(), stderr: `${stderr.text()}inode-cache: ${message}\n` };
  } finally {
    if (backend !== undefined) process.env.INODE_CACHE_BACKEND = backend;
  }
}
