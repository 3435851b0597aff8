import type { BackupRetention } from './types.js';

/** `count 3, max_age 7d`: the policy as the playbook writes it. */
export function retentionText(keep: BackupRetention): string {
  return (
    [keep.count !== undefined ? `count ${keep.count}` : '', keep.maxAge ? `max_age ${keep.maxAge.text}` : '']
      .filter(Boolean)
      .join(', ') || 'no limit'
  );
}
