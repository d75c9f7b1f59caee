/**
 * The bank workload of the real-crash tests, shared by the child (which runs it until it is
 * killed) and the parent (which sets the pool up and checks it after every kill).
 *
 * Accounts live in a hash map; every transfer moves money between two accounts and pushes a
 * journal entry in the same transaction. When the journal is long, the same transaction also
 * shifts its oldest entry and folds it into a checkpoint of the balances, so three
 * collections change together. Invariants after any crash:
 *   - the balances sum to the initial total (money is neither made nor lost);
 *   - checkpoint + the journal's transfers = the balances (the journal agrees with them);
 *   - the journal's sequence numbers are consecutive and end at `meta.seq`;
 *   - every transfer the child reported committed is there (seq <= meta.seq, and equal to
 *     the journal's entry when it is still in the journal), and at most the one transfer in
 *     flight is there unreported.
 */
import assert from 'node:assert/strict';
import type { Store } from '@ferrite/tx';

export const ACCOUNTS = 8;
export const INITIAL_BALANCE = 1000;
/** The journal keeps at most this many entries; older ones are folded into the checkpoint. */
export const JOURNAL_KEEP = 24;

export interface Transfer {
  seq: number;
  from: number;
  to: number;
  amount: number;
}

/** Creates the accounts, the checkpoint and the sequence counter in a new pool. */
export function setUpBank(store: Store): void {
  const accounts = store.map<number, number>('accounts');
  const checkpoint = store.map<number, number>('checkpoint');
  const meta = store.map<string, number>('meta');
  store.queue<Transfer>('journal');
  store.transaction(() => {
    for (let a = 0; a < ACCOUNTS; a++) {
      accounts.set(a, INITIAL_BALANCE);
      checkpoint.set(a, INITIAL_BALANCE);
    }
    meta.set('seq', 0);
  });
}

/** Runs one transfer as one transaction; returns it once durable. `rand` gives [0, 1). */
export function transfer(store: Store, rand: () => number): Transfer {
  return store.transaction(transferBody(store, rand));
}

/**
 * Runs one transfer with `transactionAsync`: it commits at once, and the promise resolves when
 * it is durable (group commit: the transfers of one event-loop turn share one log sync).
 */
export function transferAsync(store: Store, rand: () => number): Promise<Transfer> {
  return store.transactionAsync(transferBody(store, rand));
}

function transferBody(store: Store, rand: () => number): () => Transfer {
  const accounts = store.map<number, number>('accounts');
  const checkpoint = store.map<number, number>('checkpoint');
  const meta = store.map<string, number>('meta');
  const journal = store.queue<Transfer>('journal');
  return () => {
    const seq = (meta.get('seq') ?? 0) + 1;
    const from = Math.floor(rand() * ACCOUNTS);
    const to = (from + 1 + Math.floor(rand() * (ACCOUNTS - 1))) % ACCOUNTS;
    const balance = accounts.get(from) ?? 0;
    const amount = Math.min(balance, 1 + Math.floor(rand() * 100));
    accounts.set(from, balance - amount);
    accounts.set(to, (accounts.get(to) ?? 0) + amount);
    const t: Transfer = { seq, from, to, amount };
    journal.push(t);
    if (journal.length > JOURNAL_KEEP) {
      const old = journal.shift();
      assert.ok(old !== undefined, 'journal shift after a length check');
      checkpoint.set(old.from, (checkpoint.get(old.from) ?? 0) - old.amount);
      checkpoint.set(old.to, (checkpoint.get(old.to) ?? 0) + old.amount);
    }
    meta.set('seq', seq);
    return t;
  };
}

/**
 * Checks the bank's invariants and that every reported transfer is there. `reported` maps
 * seq -> the transfer the child reported committed. Returns the pool's last seq.
 */
export function checkBank(store: Store, reported: ReadonlyMap<number, Transfer>, maxReported: number, maxInFlight = 1): number {
  const accounts = store.map<number, number>('accounts');
  const checkpoint = store.map<number, number>('checkpoint');
  const meta = store.map<string, number>('meta');
  const journal = store.queue<Transfer>('journal');
  const balances: number[] = [];
  const folded: number[] = [];
  for (let a = 0; a < ACCOUNTS; a++) {
    const b = accounts.get(a);
    const c = checkpoint.get(a);
    assert.ok(typeof b === 'number' && b >= 0, `account ${a} has balance ${String(b)}`);
    assert.ok(typeof c === 'number', `checkpoint ${a} is ${String(c)}`);
    balances.push(b);
    folded.push(c);
  }
  assert.equal(accounts.size, ACCOUNTS, 'accounts map size');
  assert.equal(balances.reduce((x, y) => x + y, 0), ACCOUNTS * INITIAL_BALANCE, 'total of the balances changed');
  assert.equal(folded.reduce((x, y) => x + y, 0), ACCOUNTS * INITIAL_BALANCE, 'total of the checkpoint changed');
  const seq = meta.get('seq');
  assert.ok(typeof seq === 'number', 'meta.seq missing');
  const entries = [...journal];
  assert.equal(entries.length, journal.length, 'journal length disagrees with iteration');
  assert.ok(entries.length <= JOURNAL_KEEP, `journal has ${entries.length} entries, more than ${JOURNAL_KEEP}`);
  for (let i = 0; i < entries.length; i++) {
    const t = entries[i]!;
    assert.equal(t.seq, seq - entries.length + 1 + i, 'journal sequence numbers are not consecutive up to meta.seq');
    folded[t.from]! -= t.amount;
    folded[t.to]! += t.amount;
    const r = reported.get(t.seq);
    if (r !== undefined) assert.deepStrictEqual(t, r, `journal entry ${t.seq} differs from what the child reported`);
  }
  assert.deepStrictEqual(folded, balances, 'checkpoint + journal does not give the balances');
  assert.ok(seq >= maxReported, `transfer ${maxReported} was reported committed but the pool ends at ${seq}`);
  assert.ok(seq <= maxReported + maxInFlight, `the pool holds ${seq - maxReported} unreported transfers; at most ${maxInFlight} may be in flight`);
  return seq;
}
