//! [`device_tests!`](crate::device_tests): one op test instantiated per device.

/// Instantiates each named test function `fn name(device: Device) -> Result<()>` as a module
/// `name` with two tests: `name::cpu` and `name::cuda`. The CUDA one writes
/// `name::cuda: skipped: no CUDA device` to the process's standard error (past the test
/// harness's capture, so every log shows it) and passes without running when
/// [`crate::cuda_device_count`] is 0 (no GPU, no driver, or a build without the `cuda` feature).
///
/// ```
/// use loam_tensor::{Device, Result, Tensor};
///
/// fn exp_matches(device: Device) -> Result<()> {
///     let x = Tensor::from_vec(vec![0.0, 1.0], &[2])?.to_device(device)?;
///     let y = x.exp().try_to_vec()?;
///     assert!((y[1] - std::f32::consts::E).abs() < 1e-6);
///     Ok(())
/// }
///
/// loam_tensor::device_tests!(exp_matches);
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! device_tests {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn cpu() -> $crate::Result<()> {
                super::$name($crate::Device::Cpu)
            }

            #[test]
            fn cuda() -> $crate::Result<()> {
                if $crate::cuda_device_count() == 0 {
                    use ::std::io::Write as _;
                    let _ = ::std::writeln!(
                        ::std::io::stderr(),
                        "{}::cuda: skipped: no CUDA device",
                        ::std::stringify!($name)
                    );
                    return Ok(());
                }
                super::$name($crate::Device::Cuda(0))
            }
        }
    )+};
}
