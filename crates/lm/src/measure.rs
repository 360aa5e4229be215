//! Measuring the process: what a run reports about the machine it ran on.

/// Peak resident memory in MB (Linux `VmHWM`; 0 elsewhere).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_memory_covers_what_was_touched() {
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        let mb = peak_rss_mb();
        if cfg!(target_os = "linux") {
            assert!(mb >= 64.0, "64 MB were touched, the peak says {mb} MB");
        } else {
            assert_eq!(mb, 0.0);
        }
    }
}
