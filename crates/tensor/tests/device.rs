//! Device handling without a GPU: parsing, the CPU fallback, and the clear error for a CUDA
//! device that is absent (or a build without the `cuda` feature).

use loam_tensor::{Device, Tensor, TensorError, cuda_device_count};

#[test]
fn devices_parse_and_print() {
    assert_eq!(Device::parse("cpu").unwrap(), Device::Cpu);
    assert_eq!(Device::parse("cuda").unwrap(), Device::Cuda(0));
    assert_eq!(Device::parse("cuda:3").unwrap(), Device::Cuda(3));
    for bad in ["gpu", "cuda:", "cuda:x", "cuda:-1", ""] {
        assert!(Device::parse(bad).is_err(), "{bad:?} parsed");
    }
    for d in [Device::Cpu, Device::Cuda(0), Device::Cuda(7)] {
        assert_eq!(Device::parse(&d.to_string()).unwrap(), d);
    }
}

#[test]
fn without_a_gpu_cuda_is_a_clear_error_and_the_cpu_is_the_fallback() {
    if cuda_device_count() > 0 {
        println!("skipped: a CUDA device is present");
        return;
    }
    assert_eq!(Device::cuda_if_available(0), Device::Cpu);
    let x = Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap();
    let err = x.to_device(Device::Cuda(0)).unwrap_err();
    let TensorError::Cuda { op, msg } = &err else {
        panic!("not a CUDA error: {err}")
    };
    assert_eq!(*op, "to_device");
    if cfg!(feature = "cuda") {
        assert!(msg.contains("no CUDA device cuda:0"), "{msg}");
    } else {
        assert!(msg.contains("built without the `cuda` feature"), "{msg}");
    }
    // the CPU keeps working, and moving to where a tensor already is costs nothing
    let y = x.to_device(Device::Cpu).unwrap();
    assert_eq!(y.id(), x.id());
    assert_eq!(y.exp().to_vec(), vec![1f32.exp(), 2f32.exp()]);
}

#[test]
fn tensors_of_either_device_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Tensor>();
    send_sync::<loam_tensor::GradStore>();
}
