//! Choosing the device a run or command computes on (`cpu`, `cuda`, `cuda:N`), checked before
//! any work starts, so that asking for a GPU this build or machine lacks is one clear error.

use loam_tensor::{Device, cuda_device_count};

use crate::error::{LmError, Result};

/// The device `name` names (`cpu`, `cuda` for GPU 0, `cuda:N`), checked to be usable here: a
/// CUDA device needs a build with the cargo feature `cuda` and a visible GPU of that ordinal.
pub fn select_device(name: &str) -> Result<Device> {
    let device =
        Device::parse(name).map_err(|e| LmError::Config(format!("device `{name}`: {e}")))?;
    if let Device::Cuda(n) = device {
        if !cfg!(feature = "cuda") {
            return Err(LmError::Config(format!(
                "device `{name}`: loam was built without the `cuda` feature (build with `--features cuda`)"
            )));
        }
        let visible = cuda_device_count();
        if n >= visible {
            return Err(LmError::Config(format!(
                "no CUDA device: `{name}` asks for GPU {n} and {visible} are visible (no NVIDIA driver or GPU found)"
            )));
        }
    }
    Ok(device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_is_always_there_and_bad_names_are_refused() {
        assert_eq!(select_device("cpu").unwrap(), Device::Cpu);
        let err = select_device("tpu").unwrap_err().to_string();
        assert!(err.starts_with("device `tpu`"), "{err}");
    }

    #[test]
    fn a_gpu_that_is_not_there_is_a_clear_error() {
        if cuda_device_count() > 0 {
            println!("skipped: a CUDA device is present");
            return;
        }
        let err = select_device("cuda").unwrap_err().to_string();
        let expected = if cfg!(feature = "cuda") {
            "no CUDA device"
        } else {
            "built without the `cuda` feature"
        };
        assert!(err.contains(expected), "{err}");
    }
}
