import { backup } from './backup.js';
import { build } from './build.js';
import { restore } from './restore.js';
import { swap } from './swap.js';
import type { AnyTaskModule, TaskName } from './task.js';
import { verify } from './verify.js';
import { versionCheck } from './version-check.js';

/** Task modules by the name playbooks/*.yml use. */
export const taskModules: Readonly<Record<TaskName, AnyTaskModule>> = {
  version_check: versionCheck,
  build,
  backup,
  swap,
  restore,
  verify,
};
