import type { HostFacts, InstalledBuild } from '../facts/host-facts.js';

// Terraform calls it an inconsistent final plan: apply left the host other than
// its plan said. Later tasks already plan against the facts read again after
// apply, so this is a warning for the operator (and a bug report for the task),
// never a failure.

/** The facts a plan predicts on purpose: the version serving, what `current` names, the builds installed. */
export type PredictedField = 'runningVersion' | 'currentLink' | 'builds';

export interface PlanDrift {
  readonly field: PredictedField;
  readonly planned: string | null;
  readonly found: string | null;
}

/** The installed builds as one comparable text; null when there are none. */
function buildsText(builds: readonly InstalledBuild[]): string | null {
  if (builds.length === 0) return null;
  return [...builds]
    .map((build) =>
      build.reportedVersion === build.dir
        ? build.dir
        : `${build.dir} (${build.reportedVersion === null ? 'does not run' : `reports ${build.reportedVersion}`})`,
    )
    .sort()
    .join(', ');
}

const fieldText: Readonly<Record<PredictedField, (facts: HostFacts) => string | null>> = {
  runningVersion: (facts) => facts.runningVersion,
  currentLink: (facts) => facts.currentLink,
  builds: (facts) => buildsText(facts.builds),
};

/**
 * Where the host after apply differs from the plan's prediction, on the fields
 * the plan set: a field the plan left as it found it makes no claim (a restore
 * or a playbook's command step passes the version through untouched).
 */
export function planDrift(before: HostFacts, planned: HostFacts, found: HostFacts): PlanDrift[] {
  const drifts: PlanDrift[] = [];
  for (const field of Object.keys(fieldText) as PredictedField[]) {
    const text = fieldText[field];
    const [was, predicted, now] = [text(before), text(planned), text(found)];
    if (predicted !== was && predicted !== now) drifts.push({ field, planned: predicted, found: now });
  }
  return drifts;
}
