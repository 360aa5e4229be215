"""The timing rule shared by the PyTorch sides of the benchmarks, the same as the loam side's
(xtask/src/measure.rs): warm-up calls for 0.1 s (at least two), then enough timed repeats to
fill the budget (5 to 1000), and the median one."""
import time

WARM_UP_S = 0.1
MIN_REPEATS, MAX_REPEATS = 5, 1000


def median_secs(f, budget_s):
    """Median seconds per call of f."""
    start, calls = time.perf_counter(), 0
    while calls < 2 or time.perf_counter() - start < WARM_UP_S:
        f()
        calls += 1
    estimate = (time.perf_counter() - start) / calls
    repeats = min(MAX_REPEATS, max(MIN_REPEATS, int(budget_s / estimate)))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return sorted(times)[repeats // 2]  # the middle one (the upper of two), as on the loam side
