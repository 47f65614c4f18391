//! A pipelined parallel map whose results come out in input order: `threads` workers take the
//! next index as soon as they are free (no barrier between chunks, so one slow image stalls
//! nobody), while the calling thread consumes the results in order (the builder writes them
//! as they come). Workers run at most `window` items ahead of the consumer, which bounds the
//! memory held in results waiting for an earlier one.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex};

/// Maps `f` over `0..n` on `threads` workers and hands `(i, f(i))` to `consume` in order of
/// `i`. The first error `consume` returns stops the workers (items under way finish) and is
/// returned.
pub fn map_in_order<T: Send, E>(
    n: usize,
    threads: usize,
    window: usize,
    f: impl Fn(usize) -> T + Sync,
    mut consume: impl FnMut(usize, T) -> Result<(), E>,
) -> Result<(), E> {
    let window = window.max(1);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // How many results the consumer has taken, and a wake-up for workers waiting on it.
    let done = (Mutex::new(0usize), Condvar::new());
    let (tx, rx) = mpsc::channel::<(usize, T)>();
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(1, n.max(1)) {
            let tx = tx.clone();
            let (next, stop, done, f) = (&next, &stop, &done, &f);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || stop.load(Ordering::Relaxed) {
                    break;
                }
                let mut taken = done.0.lock().expect("window lock");
                while i >= *taken + window && !stop.load(Ordering::Relaxed) {
                    taken = done.1.wait(taken).expect("window lock");
                }
                drop(taken);
                if tx.send((i, f(i))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let r = consume_in_order(n, &rx, &done, &mut consume);
        if r.is_err() {
            stop.store(true, Ordering::Relaxed);
            done.1.notify_all();
        }
        drop(rx);
        r
    })
}

/// The consumer's side of [`map_in_order`]: reorders what arrives and consumes it in order.
fn consume_in_order<T, E>(
    n: usize,
    rx: &mpsc::Receiver<(usize, T)>,
    done: &(Mutex<usize>, Condvar),
    consume: &mut impl FnMut(usize, T) -> Result<(), E>,
) -> Result<(), E> {
    let mut waiting = BTreeMap::new();
    let mut want = 0;
    while want < n {
        let Ok((i, v)) = rx.recv() else {
            break;
        };
        waiting.insert(i, v);
        while let Some(v) = waiting.remove(&want) {
            consume(want, v)?;
            want += 1;
            *done.0.lock().expect("window lock") = want;
            done.1.notify_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_input_order_whatever_order_they_finish_in() {
        let mut seen = Vec::new();
        let r: Result<(), ()> = map_in_order(
            200,
            4,
            8,
            |i| {
                // Early items are slow: later ones finish first.
                std::thread::sleep(std::time::Duration::from_micros(
                    ((200 - i) % 7) as u64 * 50,
                ));
                i * i
            },
            |i, v| {
                seen.push((i, v));
                Ok(())
            },
        );
        assert!(r.is_ok());
        assert_eq!(seen, (0..200).map(|i| (i, i * i)).collect::<Vec<_>>());
    }

    #[test]
    fn the_first_consumer_error_stops_the_workers() {
        let started = AtomicUsize::new(0);
        let r = map_in_order(
            10_000,
            2,
            4,
            |i| {
                started.fetch_add(1, Ordering::Relaxed);
                i
            },
            |i, _| {
                if i == 10 {
                    Err(format!("item {i}"))
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(r, Err("item 10".to_string()));
        // At most the window beyond the failing item, plus one in flight a worker.
        assert!(started.load(Ordering::Relaxed) <= 10 + 4 + 2 + 1);
    }

    #[test]
    fn no_items_and_one_thread_are_fine() {
        let r: Result<(), ()> = map_in_order(0, 3, 4, |i| i, |_, _| panic!("no items"));
        assert!(r.is_ok());
        let mut sum = 0;
        let r: Result<(), ()> = map_in_order(
            5,
            1,
            1,
            |i| i,
            |_, v| {
                sum += v;
                Ok(())
            },
        );
        assert!(r.is_ok());
        assert_eq!(sum, 10);
    }
}
