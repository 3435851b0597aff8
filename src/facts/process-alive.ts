// Whether a pid names a live process, in sh, for the scripts memplay runs on a host
// (the fact probe, the pidfile stop). A zombie counts as gone: the daemon's parent
// is init, which may reap it late. Where /proc is, the state is read with the
// shell's own `read`, no fork; `ps` is the fallback only. procps' `ps -p` reads
// every process's /proc entry to find one: on the 500-host lab (5,600 processes
// on one kernel) the probe's `ps` was half the machine's CPU during a no-op re-run.
export const processAliveFunction = `alive() {
  kill -0 "$1" 2>/dev/null || return 1
  if [ -r "/proc/$1/stat" ]; then
    read -r stat < "/proc/$1/stat" 2>/dev/null || return 1
    state=\${stat##*) }
    [ "\${state%% *}" != Z ]
  else
    ! ps -o stat= -p "$1" 2>/dev/null | grep -q '^Z'
  fi
}
`;
