//! Two sides of a bench timed in turns, in one loop: criterion's groups run one side after the
//! other, so a change of load on a shared machine (or the dead row versions the first side's
//! writes leave) falls on the second; taking turns, alternating which side goes first, cancels
//! it. Shared by the benches with `#[path = "support/take_turns.rs"] mod take_turns;`.

use std::future::Future;
use std::time::{Duration, Instant};

/// Runs `dbpat` and `sqlx` in turns `rounds` times (which goes first alternates), prints the
/// median of each and their ratio on one line headed `what`, and returns the two medians.
pub async fn take_turns<A, B, FA, FB>(
    what: &str,
    rounds: usize,
    mut dbpat: A,
    mut sqlx: B,
) -> (Duration, Duration)
where
    A: FnMut() -> FA,
    B: FnMut() -> FB,
    FA: Future,
    FB: Future,
{
    let (mut ta, mut tb) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for round in 0..rounds {
        for dbpat_first in [round % 2 == 0, round % 2 == 1] {
            let start = Instant::now();
            if dbpat_first {
                std::hint::black_box(dbpat().await);
                ta.push(start.elapsed());
            } else {
                std::hint::black_box(sqlx().await);
                tb.push(start.elapsed());
            }
        }
    }
    ta.sort_unstable();
    tb.sort_unstable();
    let (a, b) = (ta[rounds / 2], tb[rounds / 2]);
    println!(
        "{what}: taking turns x{rounds}: dbpat median {:.1} µs, sqlx median {:.1} µs, ratio {:.3}",
        a.as_secs_f64() * 1e6,
        b.as_secs_f64() * 1e6,
        a.as_secs_f64() / b.as_secs_f64()
    );
    (a, b)
}
