// What `stats settings` a memcached started with these arguments will report,
// for the few settings an argument decides on its own. Everything else (a
// default that moved between versions, `-o` extended options) is only known
// once the new build runs: `unpredictable` says which arguments were not read.

export interface PredictedSetting {
  readonly setting: string;
  readonly value: string;
  /** The argument that sets it (`-B ascii`), or `memcached's default`. */
  readonly source: string;
}

export interface SettingsPrediction {
  readonly settings: readonly PredictedSetting[];
  /** Arguments this prediction does not interpret. */
  readonly unpredictable: readonly string[];
}

/** `1m`, `512k`, `1048576` → bytes (the units memcached's -I takes). */
function sizeBytes(text: string, unitless: number): string | undefined {
  const match = /^(\d+)([kKmMgG]?)$/.exec(text);
  if (!match) return undefined;
  const unit = (match[2] ?? '').toLowerCase();
  const scale = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : unitless;
  return String(Number(match[1]) * scale);
}

interface Option {
  readonly short: string;
  readonly long: string;
  readonly setting: string;
  /** Takes a value; without one it is a switch that sets `value`. */
  readonly parse: ((text: string) => string | undefined) | { readonly value: string };
  readonly defaultValue: string;
}

// Defaults as memcached 1.6 documents them (`memcached -h`).
const options: readonly Option[] = [
  {
    short: '-I',
    long: '--max-item-size',
    setting: 'item_size_max',
    parse: (t) => sizeBytes(t, 1),
    defaultValue: '1048576',
  },
  {
    short: '-c',
    long: '--conn-limit',
    setting: 'maxconns',
    parse: (t) => (/^\d+$/.test(t) ? t : undefined),
    defaultValue: '1024',
  },
  {
    short: '-B',
    long: '--protocol',
    setting: 'binding_protocol',
    parse: (t) => ({ ascii: 'ascii', binary: 'binary', auto: 'auto-negotiate' })[t],
    defaultValue: 'auto-negotiate',
  },
  {
    short: '-U',
    long: '--udp-port',
    setting: 'udpport',
    parse: (t) => (/^\d+$/.test(t) ? t : undefined),
    defaultValue: '0',
  },
  {
    short: '-m',
    long: '--memory-limit',
    setting: 'maxbytes',
    parse: (t) => sizeBytes(t, 1024 ** 2),
    defaultValue: '67108864',
  },
  {
    short: '-M',
    long: '--disable-evictions',
    setting: 'evictions',
    parse: { value: 'off' },
    defaultValue: 'on',
  },
  {
    short: '-S',
    long: '--enable-sasl',
    setting: 'auth_enabled_sasl',
    parse: { value: 'yes' },
    defaultValue: 'no',
  },
  { short: '-C', long: '--disable-cas', setting: 'cas_enabled', parse: { value: 'no' }, defaultValue: 'yes' },
];

/** The settings `args` decide (the last occurrence wins, as in memcached's getopt loop), and the rest as defaults. */
export function predictSettings(args: readonly string[]): SettingsPrediction {
  const found = new Map<string, PredictedSetting>();
  const unpredictable: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const option = options.find(
      (o) =>
        arg === o.short ||
        arg === o.long ||
        arg.startsWith(`${o.long}=`) ||
        (arg.startsWith(o.short) && typeof o.parse === 'function'),
    );
    if (!option) {
      unpredictable.push(arg);
      continue;
    }
    if (typeof option.parse !== 'function') {
      found.set(option.setting, { setting: option.setting, value: option.parse.value, source: arg });
      continue;
    }
    let text: string | undefined;
    let shown: string;
    if (arg === option.short || arg === option.long) {
      text = args[i + 1];
      shown = `${arg} ${text ?? ''}`.trim();
      i++;
    } else if (arg.startsWith(`${option.long}=`)) {
      text = arg.slice(option.long.length + 1);
      shown = arg;
    } else {
      text = arg.slice(option.short.length);
      shown = arg;
    }
    const value = text === undefined ? undefined : option.parse(text);
    if (value === undefined) unpredictable.push(shown);
    else found.set(option.setting, { setting: option.setting, value, source: shown });
  }
  const settings = options.map(
    (o) =>
      found.get(o.setting) ?? { setting: o.setting, value: o.defaultValue, source: "memcached's default" },
  );
  return { settings, unpredictable };
}

/** Where in `args` a setting comes from (`-B ascii`), for messages; undefined when the args leave it at its default. */
export function argumentFor(args: readonly string[], setting: string): string | undefined {
  const predicted = predictSettings(args).settings.find((s) => s.setting === setting);
  return predicted && predicted.source !== "memcached's default" ? predicted.source : undefined;
}
