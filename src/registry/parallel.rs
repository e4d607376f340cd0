//! A few scoped worker threads over a list of blobs. The first error stops
//! the others (through `cancel`, which transfers check while streaming) and
//! is the one returned. Every thread is joined before this returns.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

pub fn for_each<T, E, F>(items: &[T], jobs: usize, cancel: &AtomicBool, f: F) -> Result<(), E>
where
    T: Sync,
    E: Send,
    F: Fn(&T) -> Result<(), E> + Sync,
{
    let next = AtomicUsize::new(0);
    let first_error: Mutex<Option<E>> = Mutex::new(None);
    let worker = || loop {
        if cancel.load(Ordering::Relaxed) {
            return;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(item) = items.get(i) else {
            return;
        };
        if let Err(e) = f(item) {
            let mut slot = first_error.lock().unwrap_or_else(|p| p.into_inner());
            if slot.is_none() {
                *slot = Some(e);
            }
            cancel.store(true, Ordering::Relaxed);
            return;
        }
    };
    let jobs = jobs.clamp(1, items.len().max(1));
    if jobs == 1 {
        worker();
    } else {
        std::thread::scope(|s| {
            for _ in 0..jobs {
                s.spawn(worker);
            }
        });
    }
    match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_all_and_stops_on_error() {
        let done = AtomicUsize::new(0);
        let cancel = AtomicBool::new(false);
        let items: Vec<u32> = (0..20).collect();
        for_each(&items, 3, &cancel, |_| {
            done.fetch_add(1, Ordering::Relaxed);
            Ok::<(), String>(())
        })
        .unwrap();
        assert_eq!(done.load(Ordering::Relaxed), 20);
        let cancel = AtomicBool::new(false);
        let err = for_each(&items, 3, &cancel, |i| {
            if *i == 5 {
                Err(format!("bad {i}"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(err, "bad 5");
        assert!(cancel.load(Ordering::Relaxed));
    }
}
