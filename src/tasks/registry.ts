import { build } from './build.js';
import { swap } from './swap.js';
import type { TaskModule, TaskName } from './task.js';
import { verify } from './verify.js';
import { versionCheck } from './version-check.js';

/** Task modules by the name playbooks/*.yml use. backup and restore arrive with data migration. */
export const taskModules: Partial<Record<TaskName, TaskModule>> = {
  version_check: versionCheck,
  build,
  swap,
  verify,
};
