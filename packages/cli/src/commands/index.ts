import type { Command } from '../command.js';
import { backupCommand } from './backup.js';
import { checkCommand } from './check.js';
import { compactCommand } from './compact.js';
import { createCommand } from './create.js';
import { dumpCommand } from './dump.js';
import { infoCommand } from './info.js';
import { statsCommand } from './stats.js';

/** Every subcommand, in the order the help lists them. */
export const COMMANDS: readonly Command[] = [createCommand, infoCommand, checkCommand, dumpCommand, statsCommand, backupCommand, compactCommand];
