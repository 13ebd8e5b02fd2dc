//! Giving the engine a core of its own.
//!
//! The engine is one thread that must never wait for a CPU. With more busy
//! threads than cores (gateways, journal, market data), the scheduler takes
//! turns among them and the engine gets a share instead of a core. Pinning
//! it to one core and keeping every other thread off that core gives it the
//! core outright; threads inherit their creator's affinity, so a thread
//! kept off the core before it starts others keeps them off too.

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// Why a core cannot be given to the engine, if it cannot: it must be one
/// the calling thread may run on (so check before keeping it off), and
/// another must be left for everything else.
pub fn unusable(core: usize) -> Option<&'static str> {
    if core >= CpuSet::MAX_CPU {
        return Some("is beyond the CPUs this system can name");
    }
    let Ok(allowed) = sched_getaffinity(None) else {
        return Some("cannot be checked: the thread's CPU set is unreadable");
    };
    if !allowed.is_set(core) {
        Some("is not a CPU this process may run on")
    } else if allowed.count() < 2 {
        Some("is the only CPU this process may run on; nothing would be left for the other threads")
    } else {
        None
    }
}

/// The last CPU the process may run on, if it may run on at least two: the
/// natural one to give the engine (CPU 0 takes most interrupts).
pub fn spare_core() -> Option<usize> {
    let allowed = sched_getaffinity(None).ok()?;
    if allowed.count() < 2 {
        return None;
    }
    (0..CpuSet::MAX_CPU).rev().find(|&c| allowed.is_set(c))
}

/// Pins the calling thread to `core` alone (the pipeline does this for its
/// engine; a benchmark's stand-in for the engine does it too).
pub fn pin_current_thread(core: usize) -> std::io::Result<()> {
    let mut set = CpuSet::new();
    set.set(core);
    sched_setaffinity(None, &set).map_err(Into::into)
}

/// Moves the calling thread off `core`, and so every thread it starts
/// afterwards. Call it on the thread that starts the gateways when the
/// engine has `core` ([`crate::PipelineConfig::engine_core`]).
pub fn keep_current_thread_off(core: usize) -> std::io::Result<()> {
    let mut set = sched_getaffinity(None)?;
    if core < CpuSet::MAX_CPU {
        set.unset(core);
    }
    if set.count() == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "no other CPU to run on"));
    }
    sched_setaffinity(None, &set).map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_off_thread_never_runs_on_the_core_and_a_pinned_one_only_there() {
        let allowed = sched_getaffinity(None).expect("readable");
        let cores: Vec<usize> = (0..CpuSet::MAX_CPU).filter(|&c| allowed.is_set(c)).collect();
        if cores.len() < 2 {
            eprintln!("SKIPPED: one CPU only; nothing to keep a thread off");
            return;
        }
        let core = cores[cores.len() - 1];
        assert_eq!(spare_core(), Some(core));
        assert_eq!(unusable(core), None);
        assert!(unusable(CpuSet::MAX_CPU).is_some());
        std::thread::spawn(move || {
            keep_current_thread_off(core).expect("allowed");
            let now = sched_getaffinity(None).expect("readable");
            assert!(!now.is_set(core));
            assert_eq!(now.count() as usize, cores.len() - 1);
            // A thread started from here inherits it.
            std::thread::spawn(move || assert!(!sched_getaffinity(None).expect("readable").is_set(core)))
                .join()
                .expect("inherits");
            pin_current_thread(core).expect("allowed");
            let now = sched_getaffinity(None).expect("readable");
            assert!(now.is_set(core));
            assert_eq!(now.count(), 1);
        })
        .join()
        .expect("affinity holds");
    }
}
