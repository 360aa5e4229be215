//! Timing of benchmark cases: warm-up, then the median of timed repeats.

use std::hint::black_box;
use std::time::{Duration, Instant};

use anyhow::Result;

/// Fewest timed repeats of a case, however slow it is.
const MIN_REPEATS: usize = 5;
/// Most timed repeats of a case, however fast it is.
const MAX_REPEATS: usize = 1000;
/// Time spent on warm-up calls before the repeat count is chosen.
const WARM_UP: Duration = Duration::from_millis(100);

/// Median seconds per call of `f`: calls it for [`WARM_UP`] (at least twice), then times
/// enough repeats to fill about `budget`, between [`MIN_REPEATS`] and [`MAX_REPEATS`].
pub fn median_secs<T, E>(budget: Duration, mut f: impl FnMut() -> Result<T, E>) -> Result<f64>
where
    anyhow::Error: From<E>,
{
    let start = Instant::now();
    let mut calls = 0u32;
    while calls < 2 || start.elapsed() < WARM_UP {
        black_box(f()?);
        calls += 1;
    }
    let estimate = start.elapsed().as_secs_f64() / f64::from(calls);
    let repeats = ((budget.as_secs_f64() / estimate) as usize).clamp(MIN_REPEATS, MAX_REPEATS);
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let t = Instant::now();
        black_box(f()?);
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(median(&mut times))
}

/// The middle value of `values` (the upper middle one of an even count); sorts them.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_a_sleep_is_close_to_it() {
        let secs = median_secs(Duration::from_millis(20), || {
            std::thread::sleep(Duration::from_millis(2));
            anyhow::Ok(())
        })
        .unwrap();
        assert!((0.002..0.05).contains(&secs), "{secs}");
    }

    #[test]
    fn errors_of_the_case_come_through() {
        let outcome = median_secs(Duration::from_millis(1), || {
            Err::<(), _>(anyhow::anyhow!("bad shape"))
        });
        assert!(outcome.is_err());
    }
}
