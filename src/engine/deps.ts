import { gatherFacts } from '../facts/host-facts.js';
import { planBackupPrune, removePrunedBackups } from '../tasks/backup-prune.js';
import { needsRollback, rollBack } from '../tasks/rollback.js';
import { connectionLost } from './connection-lost.js';
import { lockRefusal, peekHostLock, takeHostLock } from './host-lock.js';

/**
 * What the engine reaches out to besides the tasks it runs: the host's facts,
 * its lock, the rollback after a failure, the backup folder and the check of a
 * dead connection. Injectable so the engine's own rules (rollback, max-fail,
 * Ctrl-C, --check) are tested with scripted answers, without a host or root.
 */
export interface EngineDeps {
  readonly gatherFacts: typeof gatherFacts;
  readonly takeHostLock: typeof takeHostLock;
  readonly peekHostLock: typeof peekHostLock;
  readonly lockRefusal: typeof lockRefusal;
  readonly needsRollback: typeof needsRollback;
  readonly rollBack: typeof rollBack;
  readonly planBackupPrune: typeof planBackupPrune;
  readonly removePrunedBackups: typeof removePrunedBackups;
  readonly connectionLost: typeof connectionLost;
}

export const realEngineDeps: EngineDeps = {
  gatherFacts,
  takeHostLock,
  peekHostLock,
  lockRefusal,
  needsRollback,
  rollBack,
  planBackupPrune,
  removePrunedBackups,
  connectionLost,
};

export function engineDeps(overrides: Partial<EngineDeps> = {}): EngineDeps {
  return { ...realEngineDeps, ...overrides };
}
