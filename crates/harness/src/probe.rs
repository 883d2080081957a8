//! The lecture's claim that "we run out of threads before we run out of sockets", measured:
//! how many parked threads and how many sockets one process can hold on this machine.

use std::{
    sync::{Arc, Condvar, Mutex, PoisonError},
    thread,
};

use serde::{Deserialize, Serialize};

use crate::measure::process_usage;

/// How far one process got, spawning threads and opening sockets until the OS said no (or a
/// cap was reached, so the probe always ends by itself).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ceilings {
    /// The most threads or sockets the probe tries.
    pub cap: usize,
    /// Stack reserved per thread, KiB.
    pub thread_stack_kb: usize,
    /// Threads spawned (all parked at once).
    pub threads: usize,
    /// Why spawning stopped, if it did before the cap.
    pub thread_error: Option<String>,
    /// Peak RSS of the process while holding them, KiB.
    pub rss_kib_with_threads: u64,
    /// RSS before spawning, KiB.
    pub rss_kib_before: u64,
    /// TCP sockets opened (all held at once).
    pub sockets: usize,
    /// Why opening stopped, if it did before the cap.
    pub socket_error: Option<String>,
}

/// Spawns parked threads until failure or `cap`, releases them, then opens sockets the same way.
pub fn probe(cap: usize, thread_stack_kb: usize) -> Ceilings {
    let mut ceilings = Ceilings {
        cap,
        thread_stack_kb,
        rss_kib_before: process_usage().map(|u| u.max_rss_kib).unwrap_or_default(),
        ..Ceilings::default()
    };
    let release = Arc::new((Mutex::new(false), Condvar::new()));
    let mut handles = Vec::new();
    // Past the map limit a new thread aborts the process instead of failing to spawn (see
    // `c10k_threads::thread_headroom`): stop at the limit, and say so.
    let headroom = c10k_threads::thread_headroom().unwrap_or(usize::MAX);
    while handles.len() < cap {
        if handles.len() >= headroom {
            ceilings.thread_error = Some(format!(
                "vm.max_map_count: no room for more thread mappings (about {headroom} threads)"
            ));
            break;
        }
        let release = Arc::clone(&release);
        let spawned = thread::Builder::new()
            .stack_size(thread_stack_kb * 1024)
            .spawn(move || {
                let (lock, released) = &*release;
                let mut done = lock.lock().unwrap_or_else(PoisonError::into_inner);
                while !*done {
                    done = released.wait(done).unwrap_or_else(PoisonError::into_inner);
                }
            });
        match spawned {
            Ok(handle) => handles.push(handle),
            Err(err) => {
                ceilings.thread_error = Some(err.to_string());
                break;
            }
        }
    }
    ceilings.threads = handles.len();
    ceilings.rss_kib_with_threads = process_usage().map(|u| u.max_rss_kib).unwrap_or_default();
    *release.0.lock().unwrap_or_else(PoisonError::into_inner) = true;
    release.1.notify_all();
    for handle in handles {
        let _ = handle.join();
    }

    let mut sockets = Vec::new();
    while sockets.len() < cap {
        use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
        match socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        ) {
            Ok(fd) => sockets.push(fd),
            Err(err) => {
                ceilings.socket_error = Some(err.desc().to_owned());
                break;
            }
        }
    }
    ceilings.sockets = sockets.len();
    ceilings
}
