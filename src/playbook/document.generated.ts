// Generated from schemas/playbook.schema.json by `npm run schema:types` (src/docs/schema-types.ts).
// Do not edit: change the schema and regenerate; test/unit/schema-types.test.ts fails until you do.

/** The playbook document as the schema accepts it: keys as the user writes them. */
export interface PlaybookDocument {
  /** Playbook name */
  readonly name: string;
  /** Target release */
  readonly target: {
    /** Target version */
    readonly version: string;
    /** Source tarball */
    readonly source?: {
      /** Tarball path */
      readonly path?: string;
      /** Tarball URL */
      readonly url?: string;
      /** Tarball checksum */
      readonly sha256: string;
    };
    /** Extra configure arguments */
    readonly configure?: readonly string[];
    /** Distro package */
    readonly package?: {
      /** Package name */
      readonly name?: string;
      /** Package version */
      readonly version?: string;
    };
    /** Where the build is compiled */
    readonly build_on?: string | BuildHostDocument;
    /** Prebuilt tree */
    readonly prebuilt?: {
      /** Tarball of the installed tree */
      readonly file: string;
      /** Tree tarball checksum */
      readonly sha256: string;
    };
  };
  /** Host defaults */
  readonly defaults?: {
    readonly ssh?: SshDocument;
    readonly memcached?: MemcachedDocument;
    readonly become?: boolean;
    readonly connection?: 'ssh' | 'local';
  };
  /** Rollout strategy */
  readonly strategy?: {
    /** Batch size */
    readonly serial?: number | string | readonly (number | string)[];
    /** Tolerated failures */
    readonly max_fail_percentage?: number;
    /** Failure budget */
    readonly max_failed_hosts?: number | string;
    /** Pause between batches */
    readonly pause_between_batches?: number;
    /** Ask between batches */
    readonly confirm_between_batches?: boolean;
    /** Instances of one host together */
    readonly instances_together?: boolean;
  };
  /** Cache backups */
  readonly backup?: {
    /** Backup folder */
    readonly dir?: string;
    /** Backup retention */
    readonly keep?: {
      /** Backups kept per host */
      readonly count?: number;
      /** Oldest backup kept */
      readonly max_age?: string;
    };
  };
  /** How the old instance is replaced */
  readonly swap?: {
    /** Swap mode */
    readonly mode?: 'auto' | 'warm' | 'cold' | 'handover';
    /** Handover memory file */
    readonly memory_file?: string;
  };
  /** Verification after the restore */
  readonly verify?: {
    /** Sampled items */
    readonly sample?: number;
    /** Compare every item */
    readonly full?: boolean;
    /** Minimum restored share */
    readonly min_restored_ratio?: number;
    /** Accepted setting changes */
    readonly accept_settings?: readonly string[];
    /** Tolerated latency regression */
    readonly max_latency_regression?: number | string;
    /** Minimum throughput ratio */
    readonly min_throughput_ratio?: number;
  };
  /** Task list */
  readonly tasks?: readonly TaskStepDocument[];
  /** Hosts */
  readonly hosts?: Readonly<Record<string, HostDocument>>;
  /** Hosts from an Ansible inventory */
  readonly hosts_from?: string;
  /** Host groups */
  readonly groups?: Readonly<Record<string, readonly string[]>>;
}
/** Host */
export interface HostDocument {
  /** Address */
  readonly address?: string;
  readonly ssh?: SshDocument;
  readonly memcached?: MemcachedDocument;
  readonly become?: boolean;
  readonly connection?: 'ssh' | 'local';
  /** Several instances */
  readonly instances?: readonly InstanceDocument[];
}
/** Instance */
export interface InstanceDocument {
  /** Instance name */
  readonly name?: string;
  /** Instance port */
  readonly port: number;
  /** Instance arguments */
  readonly args?: readonly string[];
  readonly service?: ServiceDocument;
  readonly auth?: AuthDocument;
}
/** Build host outside the fleet */
export interface BuildHostDocument {
  /** Build host address */
  readonly address: string;
  readonly ssh?: SshDocument;
  readonly connection?: 'ssh' | 'local';
}
/** SSH settings */
export interface SshDocument {
  /** SSH user */
  readonly user?: string;
  /** SSH port */
  readonly port?: number;
  /** Private key */
  readonly identity_file?: string;
  /** Known hosts file */
  readonly known_hosts?: string;
  /** Connect timeout */
  readonly connect_timeout?: number;
  /** Jump hosts */
  readonly jump?: string;
  /** Legacy SSH algorithms */
  readonly legacy_algorithms?: readonly (
    | 'ssh-rsa'
    | 'ssh-dss'
    | 'diffie-hellman-group14-sha1'
    | 'diffie-hellman-group-exchange-sha1'
    | 'diffie-hellman-group1-sha1'
    | 'aes128-cbc'
    | 'aes192-cbc'
    | 'aes256-cbc'
    | '3des-cbc'
    | 'hmac-sha1-etm@openssh.com'
    | 'hmac-sha1'
    | 'hmac-sha1-96'
    | 'hmac-md5'
  )[];
  /** SSH client config */
  readonly config_file?: string;
}
/** memcached settings */
export interface MemcachedDocument {
  /** memcached port */
  readonly port?: number;
  /** Install prefix */
  readonly prefix?: string;
  /** memcached arguments */
  readonly args?: readonly string[];
  /** Old builds kept */
  readonly keep_builds?: number;
  readonly service?: ServiceDocument;
  readonly auth?: AuthDocument;
  readonly tls?: TlsDocument;
}
/** Service manager */
export interface ServiceDocument {
  /** Manager */
  readonly manager?: 'pidfile' | 'systemd';
  /** PID file */
  readonly pidfile?: string;
  /** systemd unit */
  readonly unit?: string;
  /** systemd drop-in */
  readonly drop_in?: string;
}
/** memcached ASCII authentication */
export interface AuthDocument {
  /** User variable */
  readonly user_env: string;
  /** Password variable */
  readonly password_env: string;
}
/** memcached with TLS */
export interface TlsDocument {
  /** CA certificates */
  readonly ca_file: string;
  /** Client certificate */
  readonly cert_file?: string;
  /** Client key */
  readonly key_file?: string;
  /** Server name */
  readonly server_name?: string;
}
/** Task step */
export type TaskStepDocument =
  | string
  | {
      /** Step name */
      readonly command: string;
      /** Command */
      readonly argv: readonly string[];
      /** When it runs */
      readonly when?: 'upgrading' | 'always';
    };

// The schema's `default` keywords, by the document type whose keys they belong to: what
// resolving applies to a key the playbook leaves out (src/playbook/resolve.ts).
export const playbookDefaults = {
  target: {
    configure: [],
    package: {
      name: 'memcached',
    },
  },
  defaults: {
    become: false,
    connection: 'ssh',
  },
  strategy: {
    serial: 1,
    max_fail_percentage: 0,
    pause_between_batches: 0,
    confirm_between_batches: false,
    instances_together: false,
  },
  backup: {
    dir: './backups',
    keep: {
      count: 3,
    },
  },
  swap: {
    mode: 'auto',
    memory_file: '/dev/shm/memcached-{port}.mem',
  },
  verify: {
    sample: 1000,
    full: false,
    min_restored_ratio: 1,
    accept_settings: [],
    max_latency_regression: 0.25,
    min_throughput_ratio: 0.8,
  },
} as const;
export const hostDefaults = {
  become: false,
  connection: 'ssh',
} as const;
export const buildHostDefaults = {
  connection: 'ssh',
} as const;
export const sshDefaults = {
  port: 22,
  known_hosts: '~/.ssh/known_hosts',
  connect_timeout: 10,
  config_file: '~/.ssh/config',
} as const;
export const memcachedDefaults = {
  port: 11211,
  prefix: '/opt/memcached',
  args: [],
  keep_builds: 2,
} as const;
export const serviceDefaults = {
  manager: 'pidfile',
} as const;
export const taskStepDefaults = {
  when: 'upgrading',
} as const;
