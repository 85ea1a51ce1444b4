//! How much memory the process may still take, so that work which would not fit is refused
//! before it allocates: a failed allocation aborts the process, and overcommitted memory brings
//! in the OOM killer halfway through instead.

use std::fs;

use anyhow::{bail, Result};

/// Fails, naming the need, if `need` bytes are more than the memory available.
pub fn ensure_available(need: u64, what: impl FnOnce() -> String) -> Result<()> {
    match available() {
        Some(available) if need > available => {
            bail!("{} needs about {} of memory, but only {} is available", what(), human(need), human(available))
        }
        _ => Ok(()),
    }
}

/// The least of the kernel's `MemAvailable` and what the address-space limit (`ulimit -v`)
/// leaves; `None` where neither can be read.
fn available() -> Option<u64> {
    [mem_available(), address_space_left()].into_iter().flatten().min()
}

fn mem_available() -> Option<u64> {
    let meminfo = fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib * 1024)
}

#[cfg(target_os = "linux")]
fn address_space_left() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `limit` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    // The first field of statm is the current virtual size, in pages.
    let statm = fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().next()?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).ok()?;
    Some(limit.rlim_cur.saturating_sub(pages * page))
}

#[cfg(not(target_os = "linux"))]
fn address_space_left() -> Option<u64> {
    None
}

/// `1.5 GB`, `320 MB`: enough precision to compare a need with what is there.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = "bytes";
    for u in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = u;
    }
    if unit == "bytes" {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human(999), "999 bytes");
        assert_eq!(human(1_500), "1.5 KB");
        assert_eq!(human(77_318_848_800), "77.3 GB");
    }

    #[test]
    fn a_need_beyond_any_machine_is_refused_with_the_need_named() {
        let e = ensure_available(u64::MAX, || "this".into()).unwrap_err().to_string();
        assert!(e.starts_with("this needs about 18446744.1 TB of memory, but only"), "{e}");
        assert!(ensure_available(1, || "this".into()).is_ok());
    }
}
