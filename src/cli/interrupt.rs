//! Ctrl-C for the whole process. Once any part of sage listens for SIGINT
//! (mining does, to save its state), the signal no longer ends the process
//! by default for the rest of its life; so one listener, started on first
//! use, serves every stage: while a stage has claimed Ctrl-C, the first
//! press asks it to stop and a second exits; at any other time a press
//! exits at once, as it would without a listener.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The exit status of a process ended by SIGINT, by shell convention.
const EXIT_INTERRUPTED: i32 = 130;

/// The stage that has claimed Ctrl-C, if any.
fn claimed() -> &'static Mutex<Option<Arc<AtomicBool>>> {
    static CLAIMED: OnceLock<Mutex<Option<Arc<AtomicBool>>>> = OnceLock::new();
    CLAIMED.get_or_init(|| {
        std::thread::spawn(listen);
        Mutex::new(None)
    })
}

/// The listener thread: a small runtime of its own, so it outlives every
/// runtime a stage starts and stops.
fn listen() {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        while tokio::signal::ctrl_c().await.is_ok() {
            let stage = claimed()
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .clone();
            match stage {
                Some(stop) if !stop.swap(true, Ordering::SeqCst) => {
                    eprintln!("\nstopping after this batch (Ctrl-C again to quit without saving)");
                }
                _ => std::process::exit(EXIT_INTERRUPTED),
            }
        }
    });
}

/// Ctrl-C claimed by one stage; dropping it gives Ctrl-C back its usual
/// meaning (exit now).
pub struct StopOnCtrlC {
    stop: Arc<AtomicBool>,
}

impl StopOnCtrlC {
    /// Claims Ctrl-C: the first press sets the returned flag.
    pub fn claim() -> StopOnCtrlC {
        let stop = Arc::new(AtomicBool::new(false));
        *claimed()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(stop.clone());
        StopOnCtrlC { stop }
    }

    /// The flag the stage polls.
    pub fn flag(&self) -> &AtomicBool {
        &self.stop
    }
}

impl Drop for StopOnCtrlC {
    fn drop(&mut self) {
        let mut slot = claimed()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, &self.stop)) {
            *slot = None;
        }
    }
}
