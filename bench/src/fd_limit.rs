//! The open-file limit: a thousand WebSocket clients need more descriptors than some shells
//! allow by default. Raises the soft limit up to the hard one, and fails with the `ulimit`
//! to run when even the hard limit is too low, rather than dying half-way through a run.

/// Makes sure at least `needed` descriptors may be open; returns the soft limit now in force.
pub fn ensure(needed: u64) -> anyhow::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own and reads nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        anyhow::bail!(
            "cannot read the open-file limit: {}",
            std::io::Error::last_os_error()
        );
    }
    let current: u64 = limit.rlim_cur;
    if current >= needed {
        return Ok(current);
    }
    let hard: u64 = limit.rlim_max;
    if hard < needed {
        anyhow::bail!(
            "this benchmark needs {needed} open files but the hard limit is {hard}; \
             raise it (e.g. `ulimit -Hn {needed}` as root, or in /etc/security/limits.conf)"
        );
    }
    limit.rlim_cur = needed;
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        anyhow::bail!(
            "cannot raise the open-file limit from {current} to {needed}: {}; run `ulimit -n {needed}` first",
            std::io::Error::last_os_error()
        );
    }
    Ok(needed)
}
